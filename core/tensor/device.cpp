#include "core/tensor/device.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string_view>

#include "core/base/error.h"
#include "core/base/rank_context.h"
#include "core/tensor/caching_allocator.h"
#include "core/tensor/meta_device.h"

namespace tensorpar {

void* HostAllocator::allocate(std::size_t nbytes) {
  // aligned_alloc requires a size that is a multiple of the alignment (and non-zero).
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < nbytes) throw std::bad_alloc();
  if (rounded == 0) rounded = kAlignment;
  void* ptr = std::aligned_alloc(kAlignment, rounded);
  if (ptr == nullptr) throw std::bad_alloc();
  in_use_.fetch_add(nbytes, std::memory_order_relaxed);
  return ptr;
}

void HostAllocator::deallocate(void* ptr, std::size_t nbytes) {
  if (ptr == nullptr) return;
  std::free(ptr);
  in_use_.fetch_sub(nbytes, std::memory_order_relaxed);
}

namespace {

std::size_t default_cache_limit() {
  const std::size_t one_gib = std::size_t{1} << 30;
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return one_gib;
  return std::min(one_gib, std::size_t(pages) * std::size_t(page_size) / 4);
}

// Both built-in CPU allocators live for the whole program (never destroyed): tensors in static
// objects may be freed after this file's statics would have been.
CachingAllocator& caching_cpu() {
  static CachingAllocator* a = new CachingAllocator(default_cache_limit());
  return *a;
}

HostAllocator& uncached_cpu() {
  static HostAllocator* a = new HostAllocator;
  return *a;
}

bool cache_enabled_by_environment() {
  const char* value = std::getenv("TENSORPAR_CPU_CACHE");
  return value == nullptr || std::string_view(value) != "0";
}

// One atomic pointer per device type: allocator_for is a single load, with no lock.
struct Registry {
  std::array<std::atomic<Allocator*>, kDeviceTypes> allocators{};
  Registry() {
    Allocator* cpu = cache_enabled_by_environment() ? static_cast<Allocator*>(&caching_cpu())
                                                    : &uncached_cpu();
    allocators[0].store(cpu, std::memory_order_release);
    allocators[std::size_t(DeviceType::Meta)].store(&meta_allocator(), std::memory_order_release);
  }
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
    case DeviceType::StandIn:
      return 2;
    case DeviceType::Meta:
      return 3;
  }
  throw std::invalid_argument(cat(what, ": unknown device type ", int(type)));
}

}  // namespace

namespace {
// The default, packed into one word so that reading it is a single relaxed load.
std::atomic<std::uint64_t> g_default_device{0};

// The rank's current device: the innermost DeviceGuard's device with kGuarded set, or 0 when no
// guard is active. One atomic word, so a helper thread handed the rank's context reads it while
// the rank runs. (A device with streams keeps its current stream in a context slot of its own.)
struct DeviceState {
  std::atomic<std::uint64_t> word{0};
};
constexpr RankContext::Slot<DeviceState> kDeviceSlot{RankSlot::Device};
constexpr std::uint64_t kGuarded = std::uint64_t{1} << 63;

std::uint64_t pack(Device d) {
  return (std::uint64_t(std::uint32_t(d.type)) << 32) | std::uint32_t(d.index);
}
Device unpack(std::uint64_t v) {
  return Device{DeviceType(std::uint32_t(v >> 32)), int(std::uint32_t(v))};
}
std::atomic<std::uint64_t>& device_word() { return RankContext::current().get(kDeviceSlot).word; }
}  // namespace

Device default_device() { return unpack(g_default_device.load(std::memory_order_relaxed)); }

void set_default_device(Device device) {
  g_default_device.store(pack(device), std::memory_order_relaxed);
}

Device current_device() {
  const std::uint64_t word = device_word().load(std::memory_order_relaxed);
  return (word & kGuarded) != 0 ? unpack(word & ~kGuarded) : default_device();
}

DeviceGuard::DeviceGuard(Device device) {
  std::atomic<std::uint64_t>& word = device_word();
  const std::uint64_t previous = word.load(std::memory_order_relaxed);
  previous_ = unpack(previous & ~kGuarded);
  previous_guarded_ = (previous & kGuarded) != 0;
  word.store(pack(device) | kGuarded, std::memory_order_relaxed);
}

DeviceGuard::~DeviceGuard() {
  device_word().store(previous_guarded_ ? pack(previous_) | kGuarded : 0,
                      std::memory_order_relaxed);
}

const char* device_type_name(DeviceType type) {
  switch (type) {
    case DeviceType::CPU:
      return "cpu";
    case DeviceType::CUDA:
      return "cuda";
    case DeviceType::StandIn:
      return "standin";
    case DeviceType::Meta:
      return "meta";
  }
  return "unknown";
}

std::string device_str(Device device) {
  if (device.type == DeviceType::CPU || device.type == DeviceType::Meta) {
    return device_type_name(device.type);
  }
  return cat(device_type_name(device.type), ":", device.index);
}

Allocator& allocator_for(DeviceType type) {
  Allocator* allocator = registry().allocators[slot(type, "allocator_for")].load(
      std::memory_order_acquire);
  check_arg(allocator != nullptr, "allocator_for: no allocator registered for device type ",
            device_type_name(type));
  return *allocator;
}

void register_allocator(DeviceType type, Allocator* allocator) {
  std::size_t i = slot(type, "register_allocator");
  check_arg(allocator != nullptr, "register_allocator: allocator for ", device_type_name(type),
            " is null");
  registry().allocators[i].store(allocator, std::memory_order_release);
}

std::size_t cpu_bytes_in_use() {
  return caching_cpu().bytes_in_use() + uncached_cpu().bytes_in_use();
}

std::size_t cpu_bytes_cached() { return caching_cpu().bytes_cached(); }

std::size_t release_cpu_cache() { return caching_cpu().release(); }

std::size_t cpu_cache_limit() { return caching_cpu().limit(); }

void set_cpu_cache_limit(std::size_t bytes) { caching_cpu().set_limit(bytes); }

bool cpu_cache_enabled() { return &allocator_for(DeviceType::CPU) == &caching_cpu(); }

void set_cpu_cache_enabled(bool enabled) {
  if (enabled) {
    register_allocator(DeviceType::CPU, &caching_cpu());
  } else {
    register_allocator(DeviceType::CPU, &uncached_cpu());
    caching_cpu().release();
  }
}

}  // namespace tensorpar
