#include "sim/standin_device.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

#include "core/tensor/device_interface.h"

namespace tensorpar::sim {

namespace {

// Host memory from the system, counted apart from the CPU allocator's.
class StandInAllocator final : public Allocator {
 public:
  void* allocate(std::size_t nbytes) override {
    std::size_t rounded = (nbytes + 63) / 64 * 64;
    if (rounded < nbytes) throw std::bad_alloc();
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p == nullptr) throw std::bad_alloc();
    in_use_.fetch_add(nbytes, std::memory_order_relaxed);
    return p;
  }
  void deallocate(void* ptr, std::size_t nbytes) override {
    if (ptr == nullptr) return;
    std::free(ptr);
    in_use_.fetch_sub(nbytes, std::memory_order_relaxed);
  }
  std::size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> in_use_{0};
};

StandInAllocator& allocator() {
  static StandInAllocator* a = new StandInAllocator;  // outlives every tensor
  return *a;
}

}  // namespace

Device standin_device() { return Device{DeviceType::StandIn, 0}; }

void register_standin_device() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_allocator(DeviceType::StandIn, &allocator());
    register_device_interface(DeviceType::StandIn, &cpu_device_interface());
  });
}

std::size_t standin_bytes_in_use() { return allocator().in_use(); }

}  // namespace tensorpar::sim
