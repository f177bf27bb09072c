#pragma once
// The bookkeeping of the CUDA caching allocator, apart from CUDA so that it can be tested on any
// machine: size classes, per-stream free lists, the reuse rule and the statistics.
//
// Size classes (every block 512-byte aligned, one device allocation per block, never split):
//   up to 1 MiB    512-byte steps:            1 -> 512, 513 -> 1024, 1 MiB -> 1 MiB
//   above 1 MiB    8 steps per power of two:  1 MiB + 1 -> 1.125 MiB, 5 MiB -> 5 MiB,
//                                             100 MB -> 96 MiB (a block wastes < 12.5%)
//
// Stream order: a block belongs to the stream that was current when it was allocated. Freed, it
// joins that stream's free list and the next request of its class on that stream takes it at
// once: the stream runs the new user's work after the old user's. A request on another stream
// takes it only after ordering its stream behind the block's (DeviceMemory::order_after: an event
// recorded on the block's stream, waited on by the requesting one), so no kernel can touch the
// memory before the previous user's kernels are done. The host never waits.
//
// When the device is full, every cached block is freed (empty_cache) and the request retried
// once; then allocate throws std::bad_alloc.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace tensorpar::cuda {

// A stream as the pool sees it (a cudaStream_t's value).
using StreamId = std::uintptr_t;

// What the pool asks of the device.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  // `bytes` of fresh device memory, or nullptr when the device has none left.
  virtual void* raw_allocate(std::size_t bytes) = 0;
  virtual void raw_free(void* ptr) = 0;
  // Work issued on `later` from now on runs after the work issued so far on `earlier`.
  virtual void order_after(StreamId earlier, StreamId later) = 0;
};

struct PoolStats {
  std::size_t allocated = 0;            // class bytes of the blocks handed out and not yet freed
  std::size_t reserved = 0;             // bytes held from the device: allocated + cached
  std::size_t cached = 0;               // bytes of the blocks waiting in free lists
  std::size_t peak_allocated = 0;       // the largest `allocated` since creation or reset_peak
  std::size_t device_allocations = 0;   // raw_allocate calls that succeeded
  std::size_t cross_stream_reuses = 0;  // blocks handed to another stream after order_after
};

class BlockPool {
 public:
  explicit BlockPool(DeviceMemory& memory) : memory_(&memory) {}
  // Frees every cached block; blocks still handed out are the owner's to free first.
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  void* allocate(std::size_t nbytes, StreamId stream);
  // Returns a block from allocate to its stream's free list; std::invalid_argument for a pointer
  // the pool did not hand out.
  void deallocate(void* ptr);
  // Whether ptr is a block handed out by this pool and not yet freed.
  bool owns(const void* ptr) const;

  PoolStats stats() const;
  void reset_peak();
  // Gives every cached block back to the device; returns the bytes freed.
  std::size_t empty_cache();

  // The bytes a request of nbytes occupies (the size classes above).
  static std::size_t class_bytes(std::size_t nbytes);
  static constexpr std::size_t kSmallStep = 512;
  static constexpr std::size_t kSmallLimit = std::size_t{1} << 20;
  static constexpr int kStepsPerDoubling = 8;

 private:
  struct Live {
    std::size_t bytes;
    StreamId stream;
  };
  void* take_cached(std::size_t bytes, StreamId stream);  // caller holds mutex_
  std::size_t empty_cache_locked();

  DeviceMemory* memory_;
  mutable std::mutex mutex_;
  std::unordered_map<const void*, Live> live_;
  // class bytes -> stream -> free blocks (last freed on top)
  std::map<std::size_t, std::unordered_map<StreamId, std::vector<void*>>> free_;
  PoolStats stats_;
};

}  // namespace tensorpar::cuda
