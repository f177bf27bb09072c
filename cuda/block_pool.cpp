#include "cuda/block_pool.h"

#include <bit>
#include <new>
#include <stdexcept>
#include <string>

namespace tensorpar::cuda {

namespace {
std::size_t round_up(std::size_t n, std::size_t step) { return (n + step - 1) / step * step; }
}  // namespace

std::size_t BlockPool::class_bytes(std::size_t nbytes) {
  if (nbytes <= kSmallLimit) return nbytes == 0 ? kSmallStep : round_up(nbytes, kSmallStep);
  // The largest power of two below nbytes, split into kStepsPerDoubling steps.
  const std::size_t base = std::bit_floor(nbytes - 1);
  const std::size_t rounded = round_up(nbytes, base / kStepsPerDoubling);
  if (rounded < nbytes) throw std::bad_alloc();  // wrapped around
  return rounded;
}

BlockPool::~BlockPool() { empty_cache_locked(); }

void* BlockPool::take_cached(std::size_t bytes, StreamId stream) {
  auto by_class = free_.find(bytes);
  if (by_class == free_.end()) return nullptr;
  auto& streams = by_class->second;
  auto own = streams.find(stream);
  if (own != streams.end() && !own->second.empty()) {
    void* ptr = own->second.back();
    own->second.pop_back();
    return ptr;
  }
  for (auto& [other, blocks] : streams) {
    if (blocks.empty()) continue;
    memory_->order_after(other, stream);
    void* ptr = blocks.back();
    blocks.pop_back();
    ++stats_.cross_stream_reuses;
    return ptr;
  }
  return nullptr;
}

void* BlockPool::allocate(std::size_t nbytes, StreamId stream) {
  const std::size_t bytes = class_bytes(nbytes);
  std::lock_guard lock(mutex_);
  void* ptr = take_cached(bytes, stream);
  if (ptr != nullptr) {
    stats_.cached -= bytes;
  } else {
    ptr = memory_->raw_allocate(bytes);
    if (ptr == nullptr && empty_cache_locked() > 0) ptr = memory_->raw_allocate(bytes);
    if (ptr == nullptr) throw std::bad_alloc();
    stats_.reserved += bytes;
    ++stats_.device_allocations;
  }
  live_.emplace(ptr, Live{bytes, stream});
  stats_.allocated += bytes;
  if (stats_.allocated > stats_.peak_allocated) stats_.peak_allocated = stats_.allocated;
  return ptr;
}

void BlockPool::deallocate(void* ptr) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(ptr);
  if (it == live_.end()) {
    throw std::invalid_argument("BlockPool::deallocate: pointer " +
                                std::to_string(reinterpret_cast<std::uintptr_t>(ptr)) +
                                " was not allocated by this pool");
  }
  const Live live = it->second;
  live_.erase(it);
  free_[live.bytes][live.stream].push_back(ptr);
  stats_.allocated -= live.bytes;
  stats_.cached += live.bytes;
}

bool BlockPool::owns(const void* ptr) const {
  std::lock_guard lock(mutex_);
  return live_.count(ptr) != 0;
}

PoolStats BlockPool::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void BlockPool::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak_allocated = stats_.allocated;
}

std::size_t BlockPool::empty_cache() {
  std::lock_guard lock(mutex_);
  return empty_cache_locked();
}

std::size_t BlockPool::empty_cache_locked() {
  std::size_t freed = 0;
  for (auto& [bytes, streams] : free_) {
    for (auto& [stream, blocks] : streams) {
      for (void* ptr : blocks) {
        memory_->raw_free(ptr);
        freed += bytes;
      }
    }
  }
  free_.clear();
  stats_.cached -= freed;
  stats_.reserved -= freed;
  return freed;
}

}  // namespace tensorpar::cuda
