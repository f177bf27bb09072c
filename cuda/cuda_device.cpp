#include "cuda/cuda_device.h"

#include <cuda_runtime.h>

#include <mutex>
#include <stdexcept>

#include "core/kernels/backend.h"
#include "cuda/caching_allocator.h"
#include "cuda/cuda_error.h"
#include "cuda/device_interface.h"
#include "cuda/kernels/cuda_backend.h"
#include "cuda/stream.h"

namespace tensorpar::cuda {

namespace {

struct Probe {
  int count = 0;
  std::string reason;
};

// The runtime is asked once: without a driver every call fails the same way.
const Probe& probe() {
  static const Probe result = [] {
    Probe p;
    const cudaError_t status = cudaGetDeviceCount(&p.count);
    if (status != cudaSuccess) {
      p.count = 0;
      p.reason = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
      (void)cudaGetLastError();
    } else if (p.count == 0) {
      p.reason = "the driver reports 0 devices";
    }
    return p;
  }();
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
