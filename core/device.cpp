#include "core/device.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

#include "core/error.h"

namespace tensorpar {

namespace {

constexpr std::size_t kAlignment = 64;
std::atomic<std::size_t> g_cpu_bytes{0};

// Aligned host memory; counts the bytes it hands out so tests can check for leaks.
class CpuAllocator final : public Allocator {
 public:
  void* allocate(std::size_t nbytes) override {
    // aligned_alloc requires a size that is a multiple of the alignment (and non-zero).
    std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    if (rounded == 0) rounded = kAlignment;
    void* ptr = std::aligned_alloc(kAlignment, rounded);
    if (ptr == nullptr) throw std::bad_alloc();
    g_cpu_bytes.fetch_add(nbytes, std::memory_order_relaxed);
    return ptr;
  }
  void deallocate(void* ptr, std::size_t nbytes) override {
    if (ptr == nullptr) return;
    std::free(ptr);
    g_cpu_bytes.fetch_sub(nbytes, std::memory_order_relaxed);
  }
};

CpuAllocator g_cpu_allocator;

struct Registry {
  std::mutex mutex;
  std::array<Allocator*, 2> allocators{&g_cpu_allocator, nullptr};
};

Registry& registry() {
  static Registry r;
  return r;
}

std::size_t slot(DeviceType type, const char* what) {
  switch (type) {
    case DeviceType::CPU:
      return 0;
    case DeviceType::CUDA:
      return 1;
  }
  throw std::invalid_argument(cat(what, ": unknown device type ", int(type)));
}

const char* type_name(DeviceType type) {
  switch (type) {
    case DeviceType::CPU:
      return "cpu";
    case DeviceType::CUDA:
      return "cuda";
  }
  return "unknown";
}

}  // namespace

std::string device_str(Device device) {
  if (device.type == DeviceType::CPU) return "cpu";
  return cat(type_name(device.type), ":", device.index);
}

Allocator& allocator_for(DeviceType type) {
  std::size_t i = slot(type, "allocator_for");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  check_arg(r.allocators[i] != nullptr, "allocator_for: no allocator registered for device type ",
            type_name(type));
  return *r.allocators[i];
}

void register_allocator(DeviceType type, Allocator* allocator) {
  std::size_t i = slot(type, "register_allocator");
  check_arg(allocator != nullptr, "register_allocator: allocator for ", type_name(type),
            " is null");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.allocators[i] = allocator;
}

std::size_t cpu_bytes_in_use() { return g_cpu_bytes.load(std::memory_order_relaxed); }

}  // namespace tensorpar
