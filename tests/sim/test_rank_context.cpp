// A rank's context handed to a helper thread: the helper acts as the rank (its world, mesh,
// device, grad mode, generator, plan caches, debug scopes), while a thread that was handed
// nothing has the defaults.
#include <atomic>
#include <memory>
#include <thread>

#include "core/autograd/autograd.h"
#include "core/base/rank_context.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/dtensor/redistribute.h"
#include "core/tensor/philox.h"
#include "sim/standin_device.h"
#include "sim_testing.h"

namespace tensorpar {
namespace {

using sim_testing::values;

TEST(RankContext, HelperHandedTheRankContextActsAsTheRank) {
  sim::register_standin_device();
  sim::run(3, [](int rank) {
    DeviceGuard on(sim::standin_device());
    DeviceMesh mesh({3});
    MeshScope mesh_scope(mesh);
    // 7 rows over 3 ranks: shards of 3, 2, 2.
    DTensor rows = distribute_tensor(arange(0, 7, 1, DType::Float64), mesh, {Shard(0)});
    NoGradGuard no_grad;
    manual_seed(40 + rank);
    const std::size_t plans_before = redistribute_plan_cache_size();
    Communicator* world = &current_world();
    Generator* generator = &default_generator();

    CommDebugMode mode;
    Tensor sum;
    DTensor gathered;
    std::uint64_t offset_seen = 0;
    std::thread helper([&, context = RankContext::capture()] {
      RankContextGuard as_rank(context);
      EXPECT_EQ(&current_world(), world);
      EXPECT_EQ(current_world().rank(), rank);
      EXPECT_EQ(current_world().size(), 3);
      EXPECT_EQ(current_mesh(), mesh);
      EXPECT_EQ(current_device(), sim::standin_device());
      EXPECT_FALSE(GradMode::is_enabled());
      EXPECT_EQ(&default_generator(), generator);
      EXPECT_EQ(default_generator().seed(), std::uint64_t(40 + rank));

      sum = full({2}, rank + 1.0);  // made on the rank's device
      current_world().all_reduce(sum)->wait();
      gathered = rows.redistribute({Replicate()});
      rand({5}, default_generator());
      offset_seen = default_generator().offset();
    });
    helper.join();

    EXPECT_EQ(sum.device(), sim::standin_device());
    EXPECT_EQ(values(sum), (std::vector<double>{6, 6}));  // 1 + 2 + 3
    EXPECT_EQ(values(gathered.to_local()), (std::vector<double>{0, 1, 2, 3, 4, 5, 6}));
    // Both collectives were the rank's: counted by its mode, on its communicator.
    EXPECT_EQ(mode.count(CollectiveKind::AllReduce), 1);
    EXPECT_EQ(mode.count(CollectiveKind::AllGather), 1);
    EXPECT_EQ(mode.total_count(), 2);
    EXPECT_EQ(redistribute_plan_cache_size(), plans_before + 1);
    EXPECT_GT(offset_seen, 0u);
    EXPECT_EQ(default_generator().offset(), offset_seen);
  });
}

TEST(RankContext, WatchdogReadsTheRanksWorldDeviceAndGradModeWhileTheRankRuns) {
  // The part of the context that may be read concurrently: a watchdog polls it while the rank
  // opens and closes guards (the tsan preset checks that this is race-free).
  sim::register_standin_device();
  sim::run(3, [](int rank) {
    std::atomic<bool> stop{false};
    std::atomic<int> polls{0};
    int wrong_rank = 0, wrong_device = 0;
    std::thread watchdog([&, context = RankContext::capture()] {
      RankContextGuard as_rank(context);
      while (!stop.load()) {
        wrong_rank += current_world_ptr()->rank() != rank;
        const Device device = current_device();
        wrong_device += device != default_device() && device != sim::standin_device();
        (void)GradMode::is_enabled();
        (void)has_current_mesh();
        polls.fetch_add(1);
      }
    });
    while (polls.load() == 0) std::this_thread::yield();
    for (int i = 0; i < 50; ++i) {
      DeviceGuard on(sim::standin_device());
      NoGradGuard no_grad;
      current_world().barrier()->wait();
    }
    stop.store(true);
    watchdog.join();
    EXPECT_EQ(wrong_rank, 0);
    EXPECT_EQ(wrong_device, 0);
    EXPECT_TRUE(GradMode::is_enabled());
  });
}

TEST(RankContext, ThreadHandedNothingHasTheDefaults) {
  sim::register_standin_device();
  sim::run(3, [](int rank) {
    DeviceGuard on(sim::standin_device());
    DeviceMesh mesh({3});
    MeshScope mesh_scope(mesh);
    NoGradGuard no_grad;
    manual_seed(7);
    Generator* generator = &default_generator();
    CommDebugMode mode;
    std::thread([&] {
      EXPECT_FALSE(has_current_world());
      EXPECT_FALSE(has_current_mesh());
      EXPECT_EQ(current_device(), default_device());
      EXPECT_TRUE(GradMode::is_enabled());
      EXPECT_NE(&default_generator(), generator);
      EXPECT_EQ(default_generator().seed(), 0u);
      EXPECT_FALSE(CommDebugMode::active());
    }).join();
    current_world().barrier()->wait();
    EXPECT_EQ(mode.total_count(), 1);
    EXPECT_EQ(current_world().rank(), rank);
  });
}

TEST(RankContext, EachRankStartsFromAFreshContext) {
  NoGradGuard no_grad;  // the caller's state does not leak into the ranks
  manual_seed(99);
  sim::run(3, [](int) {
    EXPECT_TRUE(GradMode::is_enabled());
    EXPECT_EQ(default_generator().seed(), 0u);
    EXPECT_EQ(redistribute_plan_cache_size(), 0u);
    EXPECT_FALSE(has_current_mesh());
  });
  EXPECT_FALSE(GradMode::is_enabled());
  EXPECT_EQ(default_generator().seed(), 99u);
  manual_seed(0);
}

TEST(RankContext, OneThreadSwitchesBetweenRankContexts) {
  // Each rank's context outlives its thread once captured; its generator keeps the rank's seed.
  auto contexts = sim::run(3, [](int rank) {
    manual_seed(10 + rank);
    return RankContext::capture();
  });
  ASSERT_EQ(contexts.size(), 3u);
  const std::uint64_t own_seed = default_generator().seed();
  {
    RankContextGuard as_rank0(contexts[0]);
    EXPECT_EQ(default_generator().seed(), 10u);
    {
      RankContextGuard as_rank2(contexts[2]);
      EXPECT_EQ(default_generator().seed(), 12u);
      NoGradGuard no_grad;  // opened and closed in rank 2's context
      EXPECT_FALSE(GradMode::is_enabled());
    }
    EXPECT_EQ(default_generator().seed(), 10u);
    EXPECT_TRUE(GradMode::is_enabled());
  }
  EXPECT_EQ(default_generator().seed(), own_seed);
  RankContextGuard as_rank2(contexts[2]);
  EXPECT_TRUE(GradMode::is_enabled());  // the guard restored rank 2's grad mode
}

}  // namespace
}  // namespace tensorpar
