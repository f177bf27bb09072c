#include "cuda/cuda_probe.h"

#include <cuda_runtime_api.h>

namespace tensorpar::cuda {

CudaProbe probe_cuda_devices() {
  CudaProbe probe;
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    probe.reason = cudaGetErrorString(rc);
    cudaGetLastError();  // a failed probe leaves no sticky error behind for later calls
    return probe;
  }
  probe.count = count;
  if (count == 0) probe.reason = "the CUDA runtime reports 0 devices";
  return probe;
}

}  // namespace tensorpar::cuda
