#include "core/tensor/caching_allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <new>
#include <vector>

namespace tensorpar {

namespace {

// Shard leases: a thread takes the lowest free index on its first allocation and gives it back
// when it exits, so the shards in use stay about as many as the threads alive at once.
class ShardLeases {
 public:
  int acquire() {
    std::lock_guard lock(mutex_);
    int index;
    if (free_.empty()) {
      index = next_++;
    } else {
      auto lowest = std::min_element(free_.begin(), free_.end());
      index = *lowest;
      free_.erase(lowest);
    }
    int seen = std::min(index + 1, CachingAllocator::kShards);
    if (seen > seen_.load(std::memory_order_relaxed)) seen_.store(seen, std::memory_order_relaxed);
    return index;
  }
  void release(int index) {
    std::lock_guard lock(mutex_);
    free_.push_back(index);
  }
  // How many shards any thread has used so far: the others are certainly empty.
  int seen() const { return seen_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::vector<int> free_;
  int next_ = 0;
  std::atomic<int> seen_{0};
};

// Never destroyed: threads may exit (and give their lease back) during static destruction.
ShardLeases& leases() {
  static ShardLeases* l = new ShardLeases;
  return *l;
}

// The lease index of this thread; -1 until its first allocation. A plain int so that it stays
// readable while the thread's other thread_locals (tensors among them) are destroyed. Per thread,
// not in the rank context (docs/rank_context.md): it spreads threads over shards, so a helper
// thread handed a rank's context still allocates from a shard of its own.
thread_local int t_lease = -1;

struct LeaseReturn {
  ~LeaseReturn() { leases().release(t_lease); }
};

int my_shard() {
  if (t_lease < 0) [[unlikely]] {
    t_lease = leases().acquire();
    static thread_local LeaseReturn give_back;
    (void)give_back;
  }
  return t_lease % CachingAllocator::kShards;
}

void* system_allocate(std::size_t bytes) {
  void* ptr = std::aligned_alloc(CachingAllocator::kAlignment, bytes);
  if (ptr == nullptr) throw std::bad_alloc();
  return ptr;
}

std::size_t round_up_64(std::size_t nbytes) {
  std::size_t rounded = (nbytes + 63) / 64 * 64;
  if (rounded < nbytes) throw std::bad_alloc();  // wrapped around
  return rounded == 0 ? 64 : rounded;
}

}  // namespace

CachingAllocator::CachingAllocator(std::size_t limit_bytes)
    : limit_(limit_bytes), shards_(std::make_unique<Shard[]>(kShards)) {}

CachingAllocator::~CachingAllocator() { release(); }

bool CachingAllocator::cached_class(std::size_t nbytes) {
  return nbytes <= (std::size_t{1} << kLargestClassLog2);
}

int CachingAllocator::class_index(std::size_t nbytes) {
  if (nbytes <= kSmallLimit) return nbytes == 0 ? 0 : int((nbytes - 1) / kAlignment);
  // 2^k < nbytes <= 2^(k+1); the four classes of this octave are 2^k + {1,2,3,4} * 2^(k-2).
  const int k = int(std::bit_width(nbytes - 1)) - 1;
  const std::size_t step = std::size_t{1} << (k - 2);
  const int sub = int((nbytes - 1 - (std::size_t{1} << k)) / step);
  return kSmallClasses + (k - 12) * 4 + sub;
}

std::size_t CachingAllocator::class_bytes(int index) {
  if (index < kSmallClasses) return std::size_t(index + 1) * kAlignment;
  const int k = 12 + (index - kSmallClasses) / 4;
  const int sub = (index - kSmallClasses) % 4;
  return (std::size_t{1} << k) + std::size_t(sub + 1) * (std::size_t{1} << (k - 2));
}

std::size_t CachingAllocator::block_bytes(std::size_t nbytes) {
  return cached_class(nbytes) ? class_bytes(class_index(nbytes)) : round_up_64(nbytes);
}

CachingAllocator::Block* CachingAllocator::pop(Shard& shard, int index) {
  Block* block = shard.heads[index].load(std::memory_order_relaxed);
  if (block != nullptr) shard.heads[index].store(block->next, std::memory_order_relaxed);
  return block;
}

CachingAllocator::Block* CachingAllocator::take_from_other_shards(int index, int own) {
  const int seen = leases().seen();
  for (int s = 0; s < seen; ++s) {
    Shard& shard = shards_[s];
    if (s == own || shard.heads[index].load(std::memory_order_relaxed) == nullptr) continue;
    std::unique_lock lock(shard.mutex, std::try_to_lock);
    if (!lock.owns_lock()) continue;
    if (Block* block = pop(shard, index)) return block;
  }
  return nullptr;
}

std::size_t CachingAllocator::bytes_in_use() const {
  std::int64_t sum = 0;
  for (int s = 0; s < kShards; ++s) sum += shards_[s].in_use.load(std::memory_order_relaxed);
  return std::size_t(sum);
}

void* CachingAllocator::allocate(std::size_t nbytes) {
  const int own = my_shard();
  if (!cached_class(nbytes)) {
    void* ptr = system_allocate(round_up_64(nbytes));
    shards_[own].in_use.fetch_add(std::int64_t(nbytes), std::memory_order_relaxed);
    return ptr;
  }
  const int index = class_index(nbytes);
  const std::size_t bytes = class_bytes(index);
  Block* block;
  {
    std::lock_guard lock(shards_[own].mutex);
    block = pop(shards_[own], index);
  }
  if (block == nullptr) block = take_from_other_shards(index, own);
  void* ptr;
  if (block != nullptr) {
    cached_.fetch_sub(bytes, std::memory_order_relaxed);
    ptr = block;
  } else {
    ptr = system_allocate(bytes);
  }
  shards_[own].in_use.fetch_add(std::int64_t(nbytes), std::memory_order_relaxed);
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, std::size_t nbytes) {
  if (ptr == nullptr) return;
  Shard& shard = shards_[my_shard()];
  shard.in_use.fetch_sub(std::int64_t(nbytes), std::memory_order_relaxed);
  if (!cached_class(nbytes)) {
    std::free(ptr);
    return;
  }
  const int index = class_index(nbytes);
  const std::size_t bytes = class_bytes(index);
  // Count the block before it is visible in a list, so cached_ never falls below the listed bytes.
  if (cached_.fetch_add(bytes, std::memory_order_relaxed) + bytes > limit()) {
    cached_.fetch_sub(bytes, std::memory_order_relaxed);
    std::free(ptr);
    return;
  }
  Block* block = static_cast<Block*>(ptr);
  std::lock_guard lock(shard.mutex);
  block->next = shard.heads[index].load(std::memory_order_relaxed);
  shard.heads[index].store(block, std::memory_order_relaxed);
}

std::size_t CachingAllocator::trim(std::size_t target) {
  std::size_t freed = 0;
  for (int index = kClasses - 1; index >= 0; --index) {
    const std::size_t bytes = class_bytes(index);
    for (int s = 0; s < kShards; ++s) {
      Shard& shard = shards_[s];
      while (cached_.load(std::memory_order_relaxed) > target &&
             shard.heads[index].load(std::memory_order_relaxed) != nullptr) {
        Block* block;
        {
          std::lock_guard lock(shard.mutex);
          block = pop(shard, index);
        }
        if (block == nullptr) break;
        cached_.fetch_sub(bytes, std::memory_order_relaxed);
        std::free(block);
        freed += bytes;
      }
    }
  }
  return freed;
}

std::size_t CachingAllocator::release() { return trim(0); }

void CachingAllocator::set_limit(std::size_t bytes) {
  limit_.store(bytes, std::memory_order_relaxed);
  trim(bytes);
}

}  // namespace tensorpar
