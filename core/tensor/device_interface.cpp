#include "core/tensor/device_interface.h"

#include <array>
#include <atomic>
#include <vector>

#include "core/base/error.h"
#include "core/tensor/meta_device.h"

namespace tensorpar {

void DeviceInterface::unsupported(const char* operation) const {
  throw std::runtime_error(cat(name_, " does not support ", operation));
}

void DeviceInterface::copy(void*, const void*, std::size_t) { unsupported("copy"); }
void DeviceInterface::copy_from_host(void*, const void*, std::size_t) {
  unsupported("copy_from_host");
}
void DeviceInterface::copy_to_host(void*, const void*, std::size_t) { unsupported("copy_to_host"); }
void DeviceInterface::copy_box(void*, const Shape&, const Shape&, const void*, const Shape&,
                               const Shape&, const Shape&, std::size_t) {
  unsupported("copy_box");
}
void DeviceInterface::fill(void*, DType, std::int64_t, double) { unsupported("fill"); }
void DeviceInterface::convert(void*, DType, const void*, DType, std::int64_t) {
  unsupported("convert");
}
void DeviceInterface::reduce(DType, ReduceOp, std::span<const void* const>, std::span<void* const>,
                             std::int64_t) {
  unsupported("reduce");
}

namespace {

// One atomic pointer per device type: a lookup is a single load, with no lock.
struct Registry {
  std::array<std::atomic<DeviceInterface*>, kDeviceTypes> interfaces{};
  Registry() {
    interfaces[0].store(&cpu_device_interface(), std::memory_order_release);
    interfaces[std::size_t(DeviceType::Meta)].store(&meta_device_interface(),
                                                    std::memory_order_release);
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

std::size_t slot(DeviceType type, const char* what) {
  const int i = static_cast<int>(type);
  check_arg(i >= 0 && i < kDeviceTypes, what, ": unknown device type ", i);
  return static_cast<std::size_t>(i);
}

}  // namespace

DeviceInterface& device_interface(DeviceType type) {
  DeviceInterface* d =
      registry().interfaces[slot(type, "device_interface")].load(std::memory_order_acquire);
  check_arg(d != nullptr, "device_interface: no device interface registered for ",
            device_str(Device{type, 0}));
  return *d;
}

void register_device_interface(DeviceType type, DeviceInterface* interface) {
  const std::size_t i = slot(type, "register_device_interface");
  check_arg(interface != nullptr, "register_device_interface: the interface for ",
            device_str(Device{type, 0}), " is null");
  registry().interfaces[i].store(interface, std::memory_order_release);
}

void copy_between(void* dst, Device dst_device, const void* src, Device src_device,
                  std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.type == src_device.type) {
    device_interface(dst_device.type).copy(dst, src, bytes);
  } else if (is_host(src_device)) {
    device_interface(dst_device.type).copy_from_host(dst, src, bytes);
  } else if (is_host(dst_device)) {
    device_interface(src_device.type).copy_to_host(dst, src, bytes);
  } else {
    std::vector<std::byte> staging(bytes);
    device_interface(src_device.type).copy_to_host(staging.data(), src, bytes);
    device_interface(dst_device.type).copy_from_host(dst, staging.data(), bytes);
  }
}

}  // namespace tensorpar
