#include "tools/cli/device_flag.h"

#include <stdexcept>
#include <string>

#include "sim/standin_device.h"
#ifdef TENSORPAR_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda/cuda_device.h"
#include "cuda/cuda_probe.h"
#endif

namespace tensorpar::cli {

namespace {

#ifdef TENSORPAR_HAVE_CUDA
// Devices this process sees; std::runtime_error "--device cuda: no CUDA device (<why>)" for none.
int cuda_devices() {
  const cuda::CudaProbe probe = cuda::probe_cuda_devices();
  if (probe.count == 0) {
    throw std::runtime_error("--device cuda: no CUDA device (" + probe.reason + ")");
  }
  return probe.count;
}
#endif

}  // namespace

Device device_flag(const Args& args, const char* fallback) {
  const std::string name = args.get_or("device", fallback);
  if (name == "cpu") return cpu();
  if (name == "standin") {
    sim::register_standin_device();
    return sim::standin_device();
  }
  if (name == "cuda") {
#ifdef TENSORPAR_HAVE_CUDA
    cuda_devices();
    cuda::register_cuda_device();  // the allocator, device interface and kernels of cuda
    return cuda::cuda_device(0);
#else
    throw std::runtime_error("--device cuda: this tensorpar was built without CUDA");
#endif
  }
  throw UsageError("--device must be cpu, standin or cuda, got '" + name + "'");
}

Device cuda_device_for_rank(int local_rank) {
#ifdef TENSORPAR_HAVE_CUDA
  const int count = cuda_devices();
  if (local_rank < 0 || local_rank >= count) {
    throw std::runtime_error("--device cuda: LOCAL_RANK=" + std::to_string(local_rank) +
                             " but this machine has " + std::to_string(count) + " CUDA devices");
  }
  const cudaError_t rc = cudaSetDevice(local_rank);
  if (rc != cudaSuccess) {
    throw std::runtime_error("--device cuda: cudaSetDevice(" + std::to_string(local_rank) +
                             "): " + cudaGetErrorString(rc));
  }
  cuda::register_cuda_device();
  return cuda::cuda_device(local_rank);
#else
  throw std::runtime_error("--device cuda: this tensorpar was built without CUDA (LOCAL_RANK=" +
                           std::to_string(local_rank) + ")");
#endif
}

const char* device_flag_name(Device device) { return device_type_name(device.type); }

}  // namespace tensorpar::cli
