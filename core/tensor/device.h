#pragma once
// Devices and their allocators. Every tensor's storage comes from the allocator registered for
// its device type, so a CUDA allocator can be plugged in later without touching Tensor. Looking an
// allocator up takes no lock: rank threads allocate thousands of tensors per step.
#include <atomic>
#include <cstddef>
#include <string>

namespace tensorpar {

// StandIn is the test device of the device seam (docs/device_seam.md): its memory is host memory
// that host code may not touch, as CUDA memory cannot be, so running the whole stack on it shows
// that nothing outside the kernels and communicators reads tensor memory directly.
// Meta is torch's meta device: tensors with a shape and a dtype but no values, for shape-only
// runs (core/tensor/meta_device.h).
enum class DeviceType { CPU, CUDA, StandIn, Meta };
inline constexpr int kDeviceTypes = 4;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  friend bool operator==(const Device&, const Device&) = default;
};

inline Device cpu() { return Device{}; }
// Host code may read and write the memory of tensors on this device (data_ptr(), data<T>()).
inline bool is_host(Device device) { return device.type == DeviceType::CPU; }
// "cpu", "cuda", "standin", "meta".
const char* device_type_name(DeviceType type);
// "cpu", "cuda:1", "standin:0", "meta" (one meta device, printed without an index, as torch's).
std::string device_str(Device device);

// The rank's current device: where factories put tensors when not told. The device of the
// innermost DeviceGuard alive in the rank context (core/base/rank_context.h; a thread's own
// context unless it was handed one), else the process's default device (CPU unless
// set_default_device says otherwise, as torch.set_default_device does). Each rank (a sim thread,
// a process) may set its own; a helper thread handed the rank's context sees it.
Device current_device();
Device default_device();
// Sets the process-wide default device, the current device of every context without a guard.
void set_default_device(Device device);
// Makes `device` the current device of the rank context for the guard's lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  Device previous_;
  bool previous_guarded_;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns memory aligned to at least 64 bytes; nbytes may be 0.
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;
  // Memory of one device among several of the allocator's type (cuda:1); Storage calls this.
  // A type with one device (cpu, the stand-in, meta) keeps the default, allocate(nbytes).
  virtual void* allocate_on(Device device, std::size_t nbytes) { return allocate(nbytes); }
};

// Aligned host memory straight from the system, counting the bytes it hands out (the uncached
// CPU allocator of TENSORPAR_CPU_CACHE=0, and the stand-in device's).
class HostAllocator final : public Allocator {
 public:
  static constexpr std::size_t kAlignment = 64;
  void* allocate(std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;
  std::size_t bytes_in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> in_use_{0};
};

// The allocator for a device type; throws std::invalid_argument when none is registered.
Allocator& allocator_for(DeviceType type);
// Registers (or replaces) the allocator of a device type; the allocator must outlive all tensors.
void register_allocator(DeviceType type, Allocator* allocator);
// Bytes currently held by tensors through the CPU allocator (for leak checks in tests): the
// requested sizes of the live blocks, whether or not the cache is on.
std::size_t cpu_bytes_in_use();

// ---- The CPU cache ----
// The built-in CPU allocator caches freed blocks in size-class free lists (core/caching_allocator.h)
// and hands them to the next request of the same class, up to a cap on cached bytes; blocks freed
// beyond the cap go back to the system. The cap defaults to 1 GiB or a quarter of physical memory,
// whichever is smaller.
//
// TENSORPAR_CPU_CACHE=0 in the environment turns the cache off: every block then comes straight
// from aligned_alloc and goes straight back to free, so valgrind and ASan see each tensor's own
// allocation. The variable is read once, on the first use of an allocator.

// Bytes held in the free lists, ready for reuse (class sizes, not requested sizes).
std::size_t cpu_bytes_cached();
// Frees every cached block; returns the bytes freed.
std::size_t release_cpu_cache();
std::size_t cpu_cache_limit();
// Sets the cap on cached bytes, freeing cached blocks at once if the cache holds more.
void set_cpu_cache_limit(std::size_t bytes);
// Whether the registered CPU allocator is the caching one.
bool cpu_cache_enabled();
// Registers the caching (true) or the uncached (false) built-in CPU allocator, overriding
// TENSORPAR_CPU_CACHE; turning the cache off also releases it. Tensors keep the allocator that
// made them, so the switch is safe while tensors are alive.
void set_cpu_cache_enabled(bool enabled);

}  // namespace tensorpar
