#pragma once
// A caching host allocator: freed blocks wait in size-class free lists and serve the next request
// of the same class, so a training step that makes and drops the same tensors every iteration
// stops paying for malloc, mmap and first-touch page faults after the first step.
//
// Size classes (every class is a multiple of 64 bytes, every block 64-byte aligned):
//   0 .. 4 KiB    64-byte steps:            1 -> 64, 65 -> 128, 4095 -> 4096
//   above 4 KiB   4 steps per power of two: 4097 -> 5 KiB, 1 MiB + 1 -> 1.25 MiB, 16 MiB -> 16 MiB
//   above 1 TiB   not cached: straight to and from the system
// so a block wastes at most 63 bytes or 25% of the request.
//
// Concurrency: the free lists are split into shards, each with its own mutex; a thread uses the
// shard leased to it for its lifetime (indices are reused after a thread exits, so sim::run's
// fresh rank threads land on the same shards). A block may be freed on any thread: it joins the
// freeing thread's shard, and a thread that misses in its own shard takes a block of the class
// from another shard before asking the system.
//
// The cache holds at most limit() bytes; a block freed beyond that goes back to the system.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/tensor/device.h"

namespace tensorpar {

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(std::size_t limit_bytes);
  // Returns every cached block to the system; blocks still in use must not outlive it.
  ~CachingAllocator() override;
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;

  // Requested bytes of the blocks handed out and not yet freed.
  std::size_t bytes_in_use() const;
  // Bytes of the blocks waiting in the free lists (class sizes, not requested sizes).
  std::size_t bytes_cached() const { return cached_.load(std::memory_order_relaxed); }
  // Frees every cached block; returns the bytes freed.
  std::size_t release();
  std::size_t limit() const { return limit_.load(std::memory_order_relaxed); }
  // Sets the cap on cached bytes, freeing cached blocks at once if the cache is above it.
  void set_limit(std::size_t bytes);

  // The bytes a request of nbytes really occupies: its class size (nbytes rounded up to 64 bytes
  // beyond the largest class).
  static std::size_t block_bytes(std::size_t nbytes);

  static constexpr std::size_t kAlignment = 64;
  static constexpr std::size_t kSmallLimit = 4096;  // 64-byte steps up to here
  static constexpr int kLargestClassLog2 = 40;
  static constexpr int kShards = 32;

 private:
  struct Block {
    Block* next;
  };
  static constexpr int kSmallClasses = int(kSmallLimit / kAlignment);
  static constexpr int kClasses = kSmallClasses + (kLargestClassLog2 - 12) * 4;
  // Heads are written under the shard's mutex; other threads read them without it, only as a
  // hint that a lock is worth taking.
  struct alignas(64) Shard {
    std::mutex mutex;
    // Requested bytes allocated minus freed by the threads on this shard; one shard's count goes
    // negative when its threads free blocks made elsewhere, the sum over shards does not.
    std::atomic<std::int64_t> in_use{0};
    std::array<std::atomic<Block*>, kClasses> heads{};
  };

  static bool cached_class(std::size_t nbytes);
  static int class_index(std::size_t nbytes);
  static std::size_t class_bytes(int index);
  static Block* pop(Shard& shard, int index);  // caller holds shard.mutex
  Block* take_from_other_shards(int index, int own);
  // Frees cached blocks, largest classes first, until at most `target` bytes stay cached.
  std::size_t trim(std::size_t target);

  // Apart, so that frees updating cached_ do not evict limit_ from other cores.
  alignas(64) std::atomic<std::size_t> limit_;
  alignas(64) std::atomic<std::size_t> cached_{0};
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace tensorpar
