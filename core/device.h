#pragma once
// Devices and their allocators. Every tensor's storage comes from the allocator registered for
// its device type, so a CUDA allocator can be plugged in later without touching Tensor.
#include <cstddef>
#include <string>

namespace tensorpar {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  friend bool operator==(const Device&, const Device&) = default;
};

inline Device cpu() { return Device{}; }
// "cpu", "cuda:1".
std::string device_str(Device device);

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns memory aligned to at least 64 bytes; nbytes may be 0.
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;
};

// The allocator for a device type; throws std::invalid_argument when none is registered.
Allocator& allocator_for(DeviceType type);
// Registers (or replaces) the allocator of a device type; the allocator must outlive all tensors.
void register_allocator(DeviceType type, Allocator* allocator);
// Bytes currently held by tensors through the CPU allocator (for leak checks in tests).
std::size_t cpu_bytes_in_use();

}  // namespace tensorpar
