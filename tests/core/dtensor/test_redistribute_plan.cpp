// The greedy planner: PyTorch's expected collective counts (test_redistribute.py), plan paths,
// comm type keys, the one-chunk mesh, the plan cache and the rejected transitions.
#include <gtest/gtest.h>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/dtensor/redistribute.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using testing::expect_error;
using testing::iota;
using testing::slice_of;

struct CountCase {
  Shape mesh;
  Shape tensor;
  std::string from, to;
  std::int64_t comms;
};

// Runs the redistribute for real and checks the count, the local shards and the full tensor.
void check_case(const CountCase& c) {
  const int world = static_cast<int>(numel(c.mesh));
  sim::run(world, [&](int rank) {
    DeviceMesh mesh(c.mesh);
    const Placements src = parse_placements(c.from), dst = parse_placements(c.to);
    DTensor dt = distribute_tensor(iota(c.tensor), mesh, src);
    CommDebugMode comm;
    DTensor out = dt.redistribute(dst);
    EXPECT_EQ(comm.total_count(), c.comms) << c.from << " -> " << c.to;
    const LocalShard s = local_shard_of(c.tensor, c.mesh, dst, *mesh.get_coordinate());
    EXPECT_TRUE(equal(out.to_local(), slice_of(iota(c.tensor), s))) << "rank " << rank;
    EXPECT_TRUE(equal(out.full_tensor(), iota(c.tensor)));
  });
}

TEST(RedistributePlan, TwoDimensionalCountsMatchPyTorch) {
  for (const CountCase& c : {
           CountCase{{2, 2}, {8, 8}, "S0,S1", "S0,S0", 1},
           CountCase{{2, 2}, {8, 8}, "S0,S1", "S1,S0", 2},
           CountCase{{2, 2}, {8, 8}, "S0,S0", "S1,S1", 2},
           CountCase{{2, 2}, {8, 8, 8}, "S0,S2", "S1,S0", 2},
           CountCase{{2, 2}, {8, 8, 8}, "S1,S1", "S1,S2", 1},
       }) {
    check_case(c);
  }
}

TEST(RedistributePlan, ThreeDimensionalCountsMatchPyTorch) {
  for (const CountCase& c : {
           CountCase{{2, 2, 2}, {8, 8, 8}, "S0,S0,S0", "S1,S1,S1", 3},
           CountCase{{2, 2, 2}, {8, 8, 8}, "S0,S1,S0", "S1,S0,S0", 3},
           CountCase{{2, 2, 2}, {8, 8, 8}, "S0,S1,S2", "S2,S1,S0", 2},
           CountCase{{2, 2, 2}, {8, 8, 8}, "S1,S0,S0", "R,S0,S0", 1},
           CountCase{{2, 2, 2}, {8, 8, 8}, "S1,R,S0", "R,S0,S0", 2},
           CountCase{{2, 2, 2}, {8, 8, 8}, "S0,S0,S1", "S0,S1,S2", 2},
       }) {
    check_case(c);
  }
}

TEST(RedistributePlan, UnevenCountsAreTheSame) {
  for (const CountCase& c : {
           CountCase{{2, 2}, {9, 7}, "S0,S1", "S1,S0", 2},
           CountCase{{2, 2}, {10, 5}, "S0,S0", "S1,S1", 2},
           CountCase{{2, 2}, {3, 5}, "S0,S1", "R,R", 2},
           CountCase{{2, 2}, {1, 3}, "S0,S0", "R,S1", 2},
           CountCase{{2, 2, 2}, {7, 5, 3}, "S0,S0,S0", "S1,S1,S1", 3},
       }) {
    check_case(c);
  }
}

TEST(RedistributePlan, PathOfTheNestedThreeDimensionalCase) {
  const auto& plan = plan_redistribute({2, 2, 2}, parse_placements("S0,S0,S0"),
                                       parse_placements("S1,S1,S1"));
  EXPECT_EQ(plan_path(parse_placements("S0,S0,S0"), plan),
            "S(0)[0]S(0)[1]S(0)[2] -> S(0)[0]S(0)[1]R -> S(0)RR -> S(1)RR -> S(1)[0]S(1)[1]R -> "
            "S(1)[0]S(1)[1]S(1)[2]");
}

TEST(RedistributePlan, PathOfTheSwapOnTwoDims) {
  const Placements src = parse_placements("S0,S1");
  const auto& plan = plan_redistribute({2, 2}, src, parse_placements("S1,S0"));
  ASSERT_EQ(plan.steps.size(), 3u);
  EXPECT_EQ(plan_path(src, plan), "S(0)S(1) -> S(0)R -> S(1)R -> S(1)S(0)");
  EXPECT_EQ(plan.steps[0].mesh_dim, 1);
  EXPECT_EQ(plan.steps[1].mesh_dim, 0);
  EXPECT_EQ(plan.steps[2].mesh_dim, 1);
}

TEST(RedistributePlan, OneDimensionalMeshTakesOneDirectStep) {
  const auto& plan = plan_redistribute({4}, {Shard(0)}, {Shard(1)});
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].from, Shard(0));
  EXPECT_EQ(plan.steps[0].to, Shard(1));
}

TEST(RedistributePlan, CommTypeKeys) {
  EXPECT_EQ(comm_type_key(Partial(), Replicate()), "allreduce_sum");
  EXPECT_EQ(comm_type_key(Partial(ReduceOp::Max), Replicate()), "allreduce_max");
  EXPECT_EQ(comm_type_key(Partial(), Shard(0)), "reduce_scatter_sum");
  EXPECT_EQ(comm_type_key(Shard(0), Replicate()), "all_gather");
  EXPECT_EQ(comm_type_key(Shard(0), Shard(1)), "all_to_all");
  EXPECT_EQ(comm_type_key(Replicate(), Shard(0)), "");
  EXPECT_EQ(comm_type_key(Replicate(), Partial()), "");
  EXPECT_EQ(comm_type_key(Replicate(), Replicate()), "");
}

TEST(RedistributePlan, MeshDimsOfSizeOneNeverCommunicate) {
  sim::run(4, [] {
    DeviceMesh mesh({4, 1});
    for (const char* src : {"S1", "R", "P"}) {
      for (const char* dst : {"S0", "S1", "R"}) {
        DTensor dt = DTensor::from_local(ones({4, 4}), mesh,
                                         {Shard(0), parse_placement(src)});
        CommDebugMode comm;
        dt.redistribute({Shard(0), parse_placement(dst)});
        EXPECT_EQ(comm.total_count(), 0) << src << " -> " << dst;
      }
    }
  });
}

TEST(RedistributePlan, CachedPlansAreReused) {
  const auto& a = plan_redistribute({2, 2}, parse_placements("S0,S1"), parse_placements("R,R"));
  const auto& b = plan_redistribute({2, 2}, parse_placements("S0,S1"), parse_placements("R,R"));
  EXPECT_EQ(&a, &b);
  const auto& c = plan_redistribute({2, 1}, parse_placements("S0,S1"), parse_placements("R,R"));
  EXPECT_NE(&a, &c);
}

TEST(RedistributePlan, TheCacheStaysBoundedAcrossManyMeshShapes) {
  const std::size_t n = kRedistributePlanCacheCapacity + 100;
  const Placements src = parse_placements("S0,S1"), dst = parse_placements("S1,R");
  for (std::size_t i = 1; i <= n; ++i) {
    const Shape mesh{std::int64_t(i), 2};
    const RedistributePlan& plan = plan_redistribute(mesh, src, dst);
    EXPECT_EQ(plan_path(src, plan), plan_path(src, plan_redistribute_uncached(mesh, src, dst)));
    ASSERT_LE(redistribute_plan_cache_size(), kRedistributePlanCacheCapacity) << "after " << i;
  }
  EXPECT_EQ(redistribute_plan_cache_size(), kRedistributePlanCacheCapacity);
  // The first mesh shapes were dropped and are planned again, the same way.
  const Shape first{1, 2};
  EXPECT_EQ(plan_path(src, plan_redistribute(first, src, dst)),
            plan_path(src, plan_redistribute_uncached(first, src, dst)));
}

TEST(RedistributePlan, RejectsShardToPartialAndPartialTypeChanges) {
  expect_error<std::invalid_argument>(
      [] { plan_redistribute({4}, {Shard(0)}, {Partial()}); },
      "redistribute from S(0) to P(sum) is not supported (mesh dim 0)");
  expect_error<std::invalid_argument>(
      [] { plan_redistribute({4}, {Partial()}, {Partial(ReduceOp::Avg)}); },
      "Redistribution from one partial type (P(sum)) to another (P(avg)) is unsupported");
}

TEST(RedistributeLocal, ReplicateToPartialDividesInternally) {
  sim::run(4, [] {
    DeviceMesh mesh({2, 2});
    DTensor r = distribute_tensor(iota({4, 4}, DType::Float64), mesh, {Replicate(), Replicate()});
    CommDebugMode comm;
    Tensor local = redistribute_local(r.to_local(), r.spec(), {Partial(), Partial()});
    EXPECT_EQ(comm.total_count(), 0);
    EXPECT_TRUE(equal(local, iota({4, 4}, DType::Float64) / 4.0));
  });
}

TEST(RedistributeLocal, ReplicateToPartialProductIsRejected) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    DTensor r = distribute_tensor(iota({4}), mesh, {Replicate()});
    expect_error<std::invalid_argument>(
        [&] { redistribute_local(r.to_local(), r.spec(), {Partial(ReduceOp::Product)}); },
        "Replicate cannot become Partial(product)");
  });
}

TEST(RedistributeLocal, PartialToShardReducesUnevenChunks) {
  // (13, 3) ones, Partial over 4 ranks -> S(0): one reduce_scatter, local = ones * 4 in
  // torch.chunk sizes [4, 4, 4, 1].
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    DTensor p = DTensor::from_local(ones({13, 3}), mesh, {Partial()});
    CommDebugMode comm;
    DTensor s = p.redistribute({Shard(0)});
    EXPECT_EQ(comm.count(CollectiveKind::ReduceScatter), 1);
    EXPECT_EQ(comm.total_count(), 1);
    EXPECT_TRUE(equal(s.to_local(), full({rank < 3 ? 4 : 1, 3}, 4.0)));
  });
}

}  // namespace
}  // namespace tensorpar
