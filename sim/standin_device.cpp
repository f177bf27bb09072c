#include "sim/standin_device.h"

#include <mutex>

#include "core/kernels/backend.h"
#include "core/kernels/cpu/cpu_backend.h"
#include "core/tensor/device_interface.h"

namespace tensorpar::sim {

namespace {

// Host memory from the system, counted apart from the CPU allocator's.
HostAllocator& allocator() {
  static HostAllocator* a = new HostAllocator;  // outlives every tensor
  return *a;
}

}  // namespace

Device standin_device() { return Device{DeviceType::StandIn, 0}; }

void register_standin_device() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_allocator(DeviceType::StandIn, &allocator());
    register_device_interface(DeviceType::StandIn, &cpu_device_interface());
    register_kernel_backend(DeviceType::StandIn, &kernels::cpu_backend());
  });
}

std::size_t standin_bytes_in_use() { return allocator().bytes_in_use(); }

}  // namespace tensorpar::sim
