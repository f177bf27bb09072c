// The caching CPU allocator: size classes, reuse, accounting, the cap, alignment, concurrent use
// with frees on other threads, and the switch that turns the cache off.
#include "core/tensor/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/ops/ops.h"

namespace tensorpar {
namespace {

constexpr std::size_t KiB = 1024, MiB = 1024 * 1024;

// A private allocator, so a test sees only its own blocks.
std::unique_ptr<CachingAllocator> make_allocator(std::size_t limit = 64 * MiB) {
  return std::make_unique<CachingAllocator>(limit);
}

bool aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

TEST(CachingAllocator, BlockSizesFollowTheClasses) {
  EXPECT_EQ(CachingAllocator::block_bytes(0), 64u);
  EXPECT_EQ(CachingAllocator::block_bytes(1), 64u);
  EXPECT_EQ(CachingAllocator::block_bytes(64), 64u);
  EXPECT_EQ(CachingAllocator::block_bytes(65), 128u);
  EXPECT_EQ(CachingAllocator::block_bytes(4095), 4096u);
  EXPECT_EQ(CachingAllocator::block_bytes(4096), 4096u);
  EXPECT_EQ(CachingAllocator::block_bytes(4097), 5 * KiB);
  EXPECT_EQ(CachingAllocator::block_bytes(6 * KiB + 1), 7 * KiB);
  EXPECT_EQ(CachingAllocator::block_bytes(8 * KiB), 8 * KiB);
  EXPECT_EQ(CachingAllocator::block_bytes(MiB + 1), MiB + MiB / 4);
  EXPECT_EQ(CachingAllocator::block_bytes(16 * MiB), 16 * MiB);
  EXPECT_EQ(CachingAllocator::block_bytes((std::size_t{1} << 40) + 1),
            (std::size_t{1} << 40) + 64);  // beyond the largest class: 64-byte steps
}

TEST(CachingAllocator, BlocksWasteAtMostAQuarterAboveFourKiB) {
  for (std::size_t n = 4097; n < 64 * MiB; n = n * 9 / 8 + 7) {
    const std::size_t b = CachingAllocator::block_bytes(n);
    EXPECT_GE(b, n);
    EXPECT_LE(b, n + n / 4) << "nbytes " << n;
    EXPECT_EQ(b % 64, 0u);
  }
}

TEST(CachingAllocator, ReusesAFreedBlockForTheSameClass) {
  auto a = make_allocator();
  void* p = a->allocate(5000);
  a->deallocate(p, 5000);
  EXPECT_EQ(a->allocate(5120), p);  // 5000 and 5120 share the 5 KiB class
  void* q = a->allocate(5000);
  EXPECT_NE(q, p);  // the cache is empty again
  a->deallocate(q, 5000);
  a->deallocate(p, 5120);
}

TEST(CachingAllocator, AnotherClassGetsAnotherBlock) {
  auto a = make_allocator();
  void* p = a->allocate(4096);
  a->deallocate(p, 4096);
  void* q = a->allocate(4097);
  EXPECT_NE(q, p);
  a->deallocate(q, 4097);
}

TEST(CachingAllocator, BytesInUseCountRequestedBytesAndReturnToTheirStartLevel) {
  auto a = make_allocator();
  void* p = a->allocate(100);
  void* q = a->allocate(MiB + 1);
  EXPECT_EQ(a->bytes_in_use(), 100 + MiB + 1);
  a->deallocate(p, 100);
  a->deallocate(q, MiB + 1);
  EXPECT_EQ(a->bytes_in_use(), 0u);
  p = a->allocate(100);  // from the cache: still counted
  EXPECT_EQ(a->bytes_in_use(), 100u);
  a->deallocate(p, 100);
  EXPECT_EQ(a->bytes_in_use(), 0u);
}

TEST(CachingAllocator, CpuBytesInUseFollowTensorsThroughTheCache) {
  const std::size_t before = cpu_bytes_in_use();
  for (int round = 0; round < 3; ++round) {  // later rounds are served from the cache
    std::vector<Tensor> tensors;
    for (std::int64_t n : {1, 100, 4097, 300000}) tensors.push_back(Tensor::empty({n}));
    EXPECT_EQ(cpu_bytes_in_use(), before + 4 * (1 + 100 + 4097 + 300000));
  }
  EXPECT_EQ(cpu_bytes_in_use(), before);
}

TEST(CachingAllocator, CachedBytesHoldFreedBlocksUntilReleased) {
  auto a = make_allocator();
  void* p = a->allocate(100);
  void* q = a->allocate(MiB + 1);
  EXPECT_EQ(a->bytes_cached(), 0u);
  a->deallocate(p, 100);
  a->deallocate(q, MiB + 1);
  const std::size_t expected = 128 + MiB + MiB / 4;
  EXPECT_EQ(a->bytes_cached(), expected);
  EXPECT_EQ(a->release(), expected);
  EXPECT_EQ(a->bytes_cached(), 0u);
  EXPECT_EQ(a->release(), 0u);
}

TEST(CachingAllocator, GlobalCacheReleasesEverything) {
  if (!cpu_cache_enabled()) GTEST_SKIP() << "TENSORPAR_CPU_CACHE=0";
  { Tensor t = Tensor::empty({MiB}, DType::Float32); }
  EXPECT_GE(cpu_bytes_cached(), 4 * MiB);
  const std::size_t cached = cpu_bytes_cached();
  EXPECT_EQ(release_cpu_cache(), cached);
  EXPECT_EQ(cpu_bytes_cached(), 0u);
}

TEST(CachingAllocator, TensorStorageIsReusedAcrossTensors) {
  if (!cpu_cache_enabled()) GTEST_SKIP() << "TENSORPAR_CPU_CACHE=0";
  const void* first;
  {
    Tensor t = Tensor::empty({4096, 1024});
    first = t.data_ptr();
  }
  Tensor again = Tensor::empty({4096, 1024});
  EXPECT_EQ(again.data_ptr(), first);
}

TEST(CachingAllocator, BlocksBeyondTheLimitGoBackToTheSystem) {
  auto a = make_allocator(8 * KiB);
  void* blocks[3] = {a->allocate(4096), a->allocate(4096), a->allocate(4096)};
  for (void* p : blocks) a->deallocate(p, 4096);
  EXPECT_EQ(a->bytes_cached(), 8 * KiB);  // the third did not fit
  void* big = a->allocate(16 * KiB);       // larger than the whole cap
  a->deallocate(big, 16 * KiB);
  EXPECT_EQ(a->bytes_cached(), 8 * KiB);
}

TEST(CachingAllocator, LoweringTheLimitTrimsTheCache) {
  auto a = make_allocator();
  void* blocks[4] = {a->allocate(4096), a->allocate(4096), a->allocate(4096), a->allocate(4096)};
  for (void* p : blocks) a->deallocate(p, 4096);
  EXPECT_EQ(a->bytes_cached(), 16 * KiB);
  a->set_limit(4 * KiB);
  EXPECT_EQ(a->limit(), 4 * KiB);
  EXPECT_EQ(a->bytes_cached(), 4 * KiB);
  a->set_limit(0);  // a zero cap caches nothing
  EXPECT_EQ(a->bytes_cached(), 0u);
  void* p = a->allocate(64);
  a->deallocate(p, 64);
  EXPECT_EQ(a->bytes_cached(), 0u);
}

TEST(CachingAllocator, EveryBlockIs64ByteAlignedFreshOrReused) {
  auto a = make_allocator();
  const std::size_t sizes[] = {0, 1, 63, 64, 65, 4095, (1u << 20) + 1};
  for (int round = 0; round < 2; ++round) {  // fresh from the system, then from the cache
    std::vector<void*> blocks;
    for (std::size_t n : sizes) {
      void* p = a->allocate(n);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(aligned(p)) << "nbytes " << n << " round " << round;
      std::memset(p, 0xab, CachingAllocator::block_bytes(n));  // the whole block is usable
      blocks.push_back(p);
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) a->deallocate(blocks[i], sizes[i]);
  }
}

TEST(CachingAllocator, CpuAllocatorAlignsEverySize) {
  Allocator& a = allocator_for(DeviceType::CPU);
  for (std::size_t n : {0u, 1u, 63u, 64u, 65u, 4095u, (1u << 20) + 1}) {
    for (int round = 0; round < 2; ++round) {
      void* p = a.allocate(n);
      EXPECT_TRUE(aligned(p)) << "nbytes " << n;
      a.deallocate(p, n);
    }
  }
}

// Eight threads allocate blocks of mixed classes, fill each with a pattern naming its owner and
// hand half of them to the next thread, which checks the pattern before freeing: a block given to
// two owners at once, or reused while still live, breaks some pattern.
TEST(CachingAllocator, ConcurrentThreadsFreeingEachOthersBlocksNeverShareABlock) {
  constexpr int kThreads = 8, kIterations = 3000;
  auto a = make_allocator(4 * MiB);  // small enough that some frees go to the system
  struct Owned {
    std::uint64_t* data;
    std::size_t nbytes;
    std::uint64_t tag;
    bool intact() const {
      for (std::size_t i = 0; i < nbytes / 8; ++i)
        if (data[i] != tag + i) return false;
      return true;
    }
  };
  struct Inbox {
    std::mutex mutex;
    std::deque<Owned> blocks;
  };
  std::vector<Inbox> inbox(kThreads);
  std::vector<int> broken(kThreads, 0);
  const std::size_t sizes[] = {8, 64, 200, 4096, 5000, 40000, 300000};

  auto free_checked = [&](const Owned& block, int t) {
    if (!block.intact()) ++broken[t];
    a->deallocate(block.data, block.nbytes);
  };
  auto drain = [&](int t) {
    std::deque<Owned> mine;
    {
      std::lock_guard lock(inbox[t].mutex);
      mine.swap(inbox[t].blocks);
    }
    for (const Owned& block : mine) free_checked(block, t);
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<Owned> held;
      for (int i = 0; i < kIterations; ++i) {
        Owned block{nullptr, sizes[rng() % std::size(sizes)],
                    (std::uint64_t(t) << 48) | (std::uint64_t(i) << 24)};
        block.data = static_cast<std::uint64_t*>(a->allocate(block.nbytes));
        for (std::size_t w = 0; w < block.nbytes / 8; ++w) block.data[w] = block.tag + w;
        if (rng() % 2 == 0) {
          Inbox& next = inbox[(t + 1) % kThreads];
          std::lock_guard lock(next.mutex);
          next.blocks.push_back(block);
        } else {
          held.push_back(block);
        }
        if (held.size() > 16) {
          std::swap(held[rng() % held.size()], held.back());
          free_checked(held.back(), t);
          held.pop_back();
        }
        if (i % 8 == 0) drain(t);
      }
      for (const Owned& block : held) free_checked(block, t);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) drain(t);

  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(broken[t], 0) << "thread " << t;
  EXPECT_EQ(a->bytes_in_use(), 0u);
  EXPECT_LE(a->bytes_cached(), 4 * MiB);
  const std::size_t cached = a->bytes_cached();
  EXPECT_EQ(a->release(), cached);  // every counted byte is in some list
  EXPECT_EQ(a->bytes_cached(), 0u);
}

TEST(CachingAllocator, ConcurrentTensorsOnRankThreadsLeaveNoBytesInUse) {
  const std::size_t before = cpu_bytes_in_use();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        Tensor x = Tensor::empty({std::int64_t(1 + (i * 37 + t) % 70000)});
        x.fill_(float(t));
        EXPECT_EQ(x.data<float>()[0], float(t));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cpu_bytes_in_use(), before);
}

TEST(CachingAllocator, DisablingTheCacheSendsBlocksStraightToTheSystem) {
  const bool was_enabled = cpu_cache_enabled();
  Tensor cached_era = Tensor::empty({1000});  // freed by the allocator that made it
  set_cpu_cache_enabled(false);
  EXPECT_FALSE(cpu_cache_enabled());
  EXPECT_EQ(cpu_bytes_cached(), 0u);
  const std::size_t before = cpu_bytes_in_use();
  {
    Tensor t = Tensor::empty({MiB});
    EXPECT_EQ(cpu_bytes_in_use(), before + 4 * MiB);
  }
  EXPECT_EQ(cpu_bytes_in_use(), before);
  EXPECT_EQ(cpu_bytes_cached(), 0u);
  set_cpu_cache_enabled(true);
  EXPECT_TRUE(cpu_cache_enabled());
  cached_era = Tensor();
  { Tensor t = Tensor::empty({MiB}); }
  EXPECT_GE(cpu_bytes_cached(), 4 * MiB);
  set_cpu_cache_enabled(was_enabled);
}

// Checks that the cache follows TENSORPAR_CPU_CACHE; the next test runs it in a child process with
// the variable set to 0.
TEST(CachingAllocator, FollowsTheEnvironment) {
  const char* value = std::getenv("TENSORPAR_CPU_CACHE");
  const bool expected = value == nullptr || std::string_view(value) != "0";
  ASSERT_EQ(cpu_cache_enabled(), expected);
  { Tensor t = Tensor::empty({MiB}); }
  if (!expected) {
    EXPECT_EQ(cpu_bytes_cached(), 0u);
  }
}

TEST(CachingAllocator, EnvironmentVariableZeroTurnsTheCacheOff) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string command = "TENSORPAR_CPU_CACHE=0 '" + self +
                              "' --gtest_filter=CachingAllocator.FollowsTheEnvironment 2>&1";
  FILE* child = popen(command.c_str(), "r");
  ASSERT_NE(child, nullptr);
  std::string output;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, child)) output.append(buffer, n);
  EXPECT_EQ(pclose(child), 0) << output;
  EXPECT_NE(output.find("[  PASSED  ] 1 test"), std::string::npos) << output;
}

}  // namespace
}  // namespace tensorpar
