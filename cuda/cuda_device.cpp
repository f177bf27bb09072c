#include "cuda/cuda_device.h"

#include <cuda_runtime.h>

#include <mutex>
#include <stdexcept>

#include "core/kernels/backend.h"
#include "cuda/caching_allocator.h"
#include "cuda/cuda_error.h"
#include "cuda/cuda_probe.h"
#include "cuda/device_interface.h"
#include "cuda/kernels/cuda_backend.h"
#include "cuda/stream.h"

namespace tensorpar::cuda {

namespace {

// The runtime is asked once: without a driver every call fails the same way.
const CudaProbe& probe() {
  static const CudaProbe result = probe_cuda_devices();
  return result;
}

}  // namespace

int device_count() { return probe().count; }

std::string no_device_reason() { return probe().reason; }

Device cuda_device(int index) { return Device{DeviceType::CUDA, index}; }

void register_cuda_device() {
  if (device_count() == 0) throw std::runtime_error("no CUDA device (" + no_device_reason() + ")");
  static std::once_flag once;
  std::call_once(once, [] {
    register_allocator(DeviceType::CUDA, &caching_allocator());
    register_device_interface(DeviceType::CUDA, &cuda_device_interface());
    kernels::register_kernel_backend(DeviceType::CUDA, &cuda_backend());
  });
}

void synchronize(int device) {
  DeviceScope on(device);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace tensorpar::cuda
