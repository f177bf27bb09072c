#include "core/kernels/cpu/cpu_backend.h"

namespace tensorpar::kernels {

CpuBackend::CpuBackend() : KernelBackend("cpu") {}

CpuBackend& cpu_backend() {
  static CpuBackend* backend = new CpuBackend;  // never destroyed: kernels may run at exit
  return *backend;
}

}  // namespace tensorpar::kernels
