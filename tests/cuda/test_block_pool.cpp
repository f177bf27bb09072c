// The caching allocator's bookkeeping (cuda/block_pool.h) over a recording fake device: size
// classes, the stream-order reuse rule, the statistics and empty_cache. Runs on every machine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <set>
#include <utility>
#include <vector>

#include "cuda/block_pool.h"

namespace tensorpar::cuda {
namespace {

// Host memory standing in for the device, with a capacity, recording every call.
class FakeDevice final : public DeviceMemory {
 public:
  explicit FakeDevice(std::size_t capacity = std::size_t{1} << 40) : capacity_(capacity) {}
  void* raw_allocate(std::size_t bytes) override {
    if (in_use_ + bytes > capacity_) return nullptr;
    in_use_ += bytes;
    ++allocations;
    void* p = std::malloc(bytes);
    sizes_.emplace_back(p, bytes);
    return p;
  }
  void raw_free(void* ptr) override {
    for (auto it = sizes_.begin(); it != sizes_.end(); ++it) {
      if (it->first == ptr) {
        in_use_ -= it->second;
        sizes_.erase(it);
        break;
      }
    }
    std::free(ptr);
    ++frees;
  }
  void order_after(StreamId earlier, StreamId later) override {
    orderings.emplace_back(earlier, later);
  }
  int allocations = 0, frees = 0;
  std::vector<std::pair<StreamId, StreamId>> orderings;

 private:
  std::size_t capacity_, in_use_ = 0;
  std::vector<std::pair<void*, std::size_t>> sizes_;
};

constexpr StreamId kStreamA = 0x1000, kStreamB = 0x2000;
constexpr std::size_t kMiB = std::size_t{1} << 20;

TEST(BlockPool, SmallRequestsRoundUpTo512Bytes) {
  EXPECT_EQ(BlockPool::class_bytes(0), 512u);
  EXPECT_EQ(BlockPool::class_bytes(1), 512u);
  EXPECT_EQ(BlockPool::class_bytes(512), 512u);
  EXPECT_EQ(BlockPool::class_bytes(513), 1024u);
  EXPECT_EQ(BlockPool::class_bytes(kMiB), kMiB);
}

TEST(BlockPool, LargeRequestsTakeEightClassesPerDoubling) {
  EXPECT_EQ(BlockPool::class_bytes(kMiB + 1), kMiB + kMiB / 8);
  EXPECT_EQ(BlockPool::class_bytes(5 * kMiB), 5 * kMiB);
  EXPECT_EQ(BlockPool::class_bytes(100'000'000), 96 * kMiB);  // 95.4 MiB
  EXPECT_EQ(BlockPool::class_bytes(64 * kMiB), 64 * kMiB);
  EXPECT_EQ(BlockPool::class_bytes(64 * kMiB + 1), 72 * kMiB);
  for (std::size_t n : {kMiB + 7, 3 * kMiB + 5, 777 * kMiB + 3}) {
    const std::size_t c = BlockPool::class_bytes(n);
    EXPECT_GE(c, n);
    EXPECT_LT(double(c - n), 0.125 * double(n)) << n;
  }
}

TEST(BlockPool, AFreedBlockServesTheNextRequestOfItsClassOnItsStreamAtOnce) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(1000, kStreamA);
  pool.deallocate(a);
  void* b = pool.allocate(900, kStreamA);  // same class (1024)
  EXPECT_EQ(b, a);
  EXPECT_EQ(device.allocations, 1);
  EXPECT_TRUE(device.orderings.empty());
  pool.deallocate(b);
}

TEST(BlockPool, AnotherStreamReusesABlockOnlyAfterOrderingBehindItsStream) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(4096, kStreamA);
  pool.deallocate(a);
  void* b = pool.allocate(4096, kStreamB);
  EXPECT_EQ(b, a);
  ASSERT_EQ(device.orderings.size(), 1u);
  EXPECT_EQ(device.orderings[0], std::make_pair(kStreamA, kStreamB));
  EXPECT_EQ(pool.stats().cross_stream_reuses, 1u);
  pool.deallocate(b);
  // b was allocated on B: it is B's now, and B takes it back without ordering
  void* c = pool.allocate(4096, kStreamB);
  EXPECT_EQ(c, a);
  EXPECT_EQ(device.orderings.size(), 1u);
  pool.deallocate(c);
}

TEST(BlockPool, ABlockOfItsOwnStreamIsPreferredToAnotherStreams) {
  FakeDevice device;
  BlockPool pool(device);
  void* on_a = pool.allocate(2048, kStreamA);
  void* on_b = pool.allocate(2048, kStreamB);
  pool.deallocate(on_a);
  pool.deallocate(on_b);
  EXPECT_EQ(pool.allocate(2048, kStreamB), on_b);
  EXPECT_TRUE(device.orderings.empty());
}

TEST(BlockPool, OtherClassesAreNeverHandedOut) {
  FakeDevice device;
  BlockPool pool(device);
  void* small = pool.allocate(512, kStreamA);
  pool.deallocate(small);
  void* big = pool.allocate(2048, kStreamA);
  EXPECT_NE(big, small);
  EXPECT_EQ(device.allocations, 2);
  pool.deallocate(big);
}

TEST(BlockPool, StatisticsCountAllocatedReservedCachedAndPeak) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(1000, kStreamA);  // 1024
  void* b = pool.allocate(3 * kMiB, kStreamA);
  PoolStats s = pool.stats();
  EXPECT_EQ(s.allocated, 1024 + 3 * kMiB);
  EXPECT_EQ(s.reserved, 1024 + 3 * kMiB);
  EXPECT_EQ(s.cached, 0u);
  EXPECT_EQ(s.peak_allocated, 1024 + 3 * kMiB);
  pool.deallocate(b);
  s = pool.stats();
  EXPECT_EQ(s.allocated, 1024u);
  EXPECT_EQ(s.cached, 3 * kMiB);
  EXPECT_EQ(s.reserved, 1024 + 3 * kMiB);
  EXPECT_EQ(s.peak_allocated, 1024 + 3 * kMiB);
  pool.reset_peak();
  EXPECT_EQ(pool.stats().peak_allocated, 1024u);
  EXPECT_EQ(s.device_allocations, 2u);
  pool.deallocate(a);
}

TEST(BlockPool, EmptyCacheGivesCachedBlocksBackAndKeepsLiveOnes) {
  FakeDevice device;
  BlockPool pool(device);
  void* live = pool.allocate(kMiB, kStreamA);
  void* freed = pool.allocate(2 * kMiB, kStreamB);
  pool.deallocate(freed);
  EXPECT_EQ(pool.empty_cache(), 2 * kMiB);
  EXPECT_EQ(device.frees, 1);
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.reserved, kMiB);
  EXPECT_EQ(s.cached, 0u);
  EXPECT_TRUE(pool.owns(live));
  pool.deallocate(live);
}

TEST(BlockPool, AFullDeviceEmptiesTheCacheAndRetriesOnce) {
  FakeDevice device(4 * kMiB);
  BlockPool pool(device);
  void* a = pool.allocate(3 * kMiB, kStreamA);
  pool.deallocate(a);  // cached: the device has 1 MiB left
  void* b = pool.allocate(2 * kMiB, kStreamA);
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(device.frees, 1);
  EXPECT_EQ(pool.stats().reserved, 2 * kMiB);
  EXPECT_THROW(pool.allocate(3 * kMiB, kStreamA), std::bad_alloc);
  pool.deallocate(b);
}

TEST(BlockPool, FreeingAPointerItDidNotHandOutIsAnError) {
  FakeDevice device;
  BlockPool pool(device);
  int local = 0;
  EXPECT_THROW(pool.deallocate(&local), std::invalid_argument);
}

TEST(BlockPool, DestroyingThePoolFreesTheCache) {
  FakeDevice device;
  {
    BlockPool pool(device);
    std::set<void*> blocks;
    for (int i = 0; i < 5; ++i) blocks.insert(pool.allocate(std::size_t(i + 1) * 4096, kStreamA));
    for (void* p : blocks) pool.deallocate(p);
  }
  EXPECT_EQ(device.frees, 5);
}

}  // namespace
}  // namespace tensorpar::cuda
