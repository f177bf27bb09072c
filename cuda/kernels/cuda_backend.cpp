#include "cuda/kernels/cuda_backend.h"

namespace tensorpar::cuda {

CudaBackend::CudaBackend() : KernelBackend("cuda") {}

CudaBackend& cuda_backend() {
  static CudaBackend* backend = new CudaBackend;  // outlives every kernel call
  return *backend;
}

}  // namespace tensorpar::cuda
