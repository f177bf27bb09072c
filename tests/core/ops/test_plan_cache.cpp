// The per-thread cache of sharding plans: a plan is reused only for the same op, attributes,
// input placements and shapes.
#include <gtest/gtest.h>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
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

}  // namespace
}  // namespace tensorpar
