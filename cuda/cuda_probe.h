#pragma once
// Whether this process can use a CUDA device, and why not: what `--device cuda` asks first, so
// that a machine without a GPU fails at once with the reason instead of deep inside a kernel.
//
//   CudaProbe p = probe_cuda_devices();
//   if (p.count == 0) throw std::runtime_error("--device cuda: no CUDA device (" + p.reason + ")");
#include <string>

namespace tensorpar::cuda {

struct CudaProbe {
  // Devices visible to this process (CUDA_VISIBLE_DEVICES applies).
  int count = 0;
  // Why count is 0: the runtime's message ("no CUDA-capable device is detected").
  std::string reason;
};

CudaProbe probe_cuda_devices();

}  // namespace tensorpar::cuda
