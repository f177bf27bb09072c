// The per-thread cache of sharding plans: a plan is reused only for the same op, attributes,
// mesh shape, input placements and shapes.
#include <gtest/gtest.h>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/op.h"
#include "core/ops/ops.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

TEST(ShardingPlanCache, PlacementsThatDifferOnlyInTheShardDimGetTheirOwnPlans) {
  // (8, 6, 6, 4): dims 1 and 2 have the same size, so only the placement tells the two calls
  // apart. transpose(1, 2) moves S(2) to S(1) and S(1) to S(2), without communication.
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    Tensor global = testing::iota({8, 6, 6, 4}, DType::Float64);
    DTensor on2 = distribute_tensor(global, mesh, {Shard(2)});
    DTensor on1 = distribute_tensor(global, mesh, {Shard(1)});
    CommDebugMode mode;
    DTensor a(transpose(on2, 1, 2));
    DTensor b(transpose(on1, 1, 2));
    EXPECT_EQ(mode.total_count(), 0);
    EXPECT_EQ(a.placements(), (Placements{Shard(1)}));
    EXPECT_EQ(b.placements(), (Placements{Shard(2)}));
    EXPECT_TRUE(equal(b.full_tensor(), transpose(global, 1, 2)));
  });
}

TEST(ShardingPlanCache, TheSameSpecsOnMeshesOfOtherShapesGetTheirOwnPlans) {
  // reshape [4, 6] S(0) -> [24] keeps S(0) when 4 and 24 divide by the mesh size (dp, 2 ranks)
  // and replicates first when they do not (tp, 3 ranks): the plan depends on the mesh shape.
  sim::run(6, [](int) {
    DeviceMesh mesh({2, 3}, {"dp", "tp"});
    Tensor global = testing::iota({4, 6}, DType::Float64);
    for (const char* name : {"dp", "tp", "dp"}) {
      SCOPED_TRACE(name);
      DTensor x = distribute_tensor(global, mesh[name], {Shard(0)});
      DTensor y(reshape(x, {24}));
      EXPECT_EQ(y.placements(), (Placements{std::string(name) == "dp" ? Placement(Shard(0))
                                                                       : Placement(Replicate())}));
      EXPECT_TRUE(equal(y.full_tensor(), global.reshape({24})));
    }
  });
}

TEST(ShardingPlanCache, PowExponentIsPartOfTheKey) {
  // pow(x, 1) keeps a Partial input Partial (it is linear); pow(x, 2) must reduce it first.
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    DTensor x = DTensor::from_local(full({3}, 1.0, DType::Float64), mesh, {Partial()});
    DTensor once(pow(x, 1.0));
    EXPECT_EQ(once.placements(), (Placements{Partial()}));
    DTensor squared(pow(x, 2.0));
    EXPECT_EQ(squared.placements(), (Placements{Replicate()}));
    EXPECT_TRUE(equal(squared.full_tensor(), full({3}, 4.0, DType::Float64)));
  });
}

TEST(ShardingPlanCache, StaysBoundedWhenShapesVary) {
  // One plan per sequence length, as in inference; the cache keeps at most its capacity and
  // every result stays right, including for lengths whose plans were dropped.
  sim::run(2, [](int rank) {
    clear_sharding_cache();
    DeviceMesh mesh({2});
    const std::int64_t n = std::int64_t(kShardingPlanCacheCapacity) + 100;
    for (std::int64_t len = 1; len <= n; ++len) {
      Tensor local = full({len, 2}, double(rank + 1), DType::Float64);
      DTensor x = DTensor::from_local(local, mesh, {Shard(0)});
      DTensor y(mul(x, 3.0));
      ASSERT_EQ(y.placements(), (Placements{Shard(0)}));
      ASSERT_TRUE(equal(y.to_local(), full({len, 2}, 3.0 * (rank + 1), DType::Float64)));
      ASSERT_LE(sharding_cache_size(), kShardingPlanCacheCapacity) << "after length " << len;
    }
    EXPECT_EQ(sharding_cache_size(), kShardingPlanCacheCapacity);
    DTensor first = DTensor::from_local(full({1, 2}, 1.0, DType::Float64), mesh, {Shard(0)});
    EXPECT_TRUE(equal(DTensor(mul(first, 3.0)).to_local(), full({1, 2}, 3.0, DType::Float64)));
  });
}

}  // namespace
}  // namespace tensorpar
