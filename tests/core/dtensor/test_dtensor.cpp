// The DTensor API on the simulated backend: distribute_tensor, from_local, to_local,
// full_tensor, redistribute's argument rules, with exact collective counts.
#include <gtest/gtest.h>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using testing::expect_error;
using testing::iota;
using testing::slice_of;

// Every rank passes different data; only the source rank's must arrive.
Tensor rank_tagged(const Shape& shape, int rank) { return iota(shape) + 1000.0 * rank; }

TEST(DistributeTensor, ShardScattersFromRankZero) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    CommDebugMode comm;
    DTensor dt = distribute_tensor(rank_tagged({10, 3}, rank), mesh, {Shard(0)});
    EXPECT_EQ(comm.count(CollectiveKind::Scatter), 1);
    EXPECT_EQ(comm.total_count(), 1);
    EXPECT_EQ(dt.shape(), (Shape{10, 3}));
    const LocalShard s = local_shard_of({10, 3}, {4}, {Shard(0)}, {rank});
    EXPECT_TRUE(equal(dt.to_local(), slice_of(rank_tagged({10, 3}, 0), s)));
  });
}

TEST(DistributeTensor, DataComesFromTheSourceCoordinate) {
  // src_data_rank is a rank within each mesh dim's group: on a 2x2 mesh src 1 means the rank at
  // coordinate (1, 1), global rank 3.
  sim::run(4, [](int rank) {
    DeviceMesh mesh({2, 2});
    CommDebugMode comm;
    DTensor dt = distribute_tensor(rank_tagged({5, 3}, rank), mesh, {Shard(0), Replicate()}, 1);
    EXPECT_EQ(comm.count(CollectiveKind::Scatter), 1);
    EXPECT_EQ(comm.count(CollectiveKind::Broadcast), 1);
    const LocalShard s = local_shard_of({5, 3}, {2, 2}, dt.placements(), {rank / 2, rank % 2});
    EXPECT_TRUE(equal(dt.to_local(), slice_of(rank_tagged({5, 3}, 3), s)));
  });
}

TEST(DistributeTensor, NoSourceRankMeansNoCommunication) {
  sim::run(3, [](int rank) {
    DeviceMesh mesh({3});
    CommDebugMode comm;
    DTensor dt = distribute_tensor(rank_tagged({7, 2}, rank), mesh, {Shard(1)}, std::nullopt);
    EXPECT_EQ(comm.total_count(), 0);
    const LocalShard s = local_shard_of({7, 2}, {3}, {Shard(1)}, {rank});
    EXPECT_TRUE(equal(dt.to_local(), slice_of(rank_tagged({7, 2}, rank), s)));
  });
}

TEST(DistributeTensor, ReplicateBroadcastsAndPartialDivides) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    CommDebugMode comm;
    DTensor r = distribute_tensor(rank_tagged({4}, rank), mesh, {Replicate()});
    EXPECT_TRUE(equal(r.to_local(), rank_tagged({4}, 0)));
    DTensor p = distribute_tensor(iota({4}, DType::Float64), mesh, {Partial()});
    EXPECT_TRUE(equal(p.to_local(), iota({4}, DType::Float64) / 4.0));
    EXPECT_EQ(comm.count(CollectiveKind::Broadcast), 2);
    EXPECT_TRUE(equal(p.full_tensor(), iota({4}, DType::Float64)));
    DTensor m = distribute_tensor(iota({4}), mesh, {Partial(ReduceOp::Max)});
    EXPECT_TRUE(equal(m.to_local(), iota({4})));
  });
}

TEST(DistributeTensor, ResultDoesNotAliasTheInput) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    Tensor t = iota({4});
    DTensor dt = distribute_tensor(t, mesh, {Replicate()}, std::nullopt);
    EXPECT_FALSE(dt.to_local().shares_storage_with(t));
  });
}

TEST(DistributeTensor, RejectsBadArguments) {
  sim::run(4, [] {
    DeviceMesh mesh({2, 2});
    expect_error<std::invalid_argument>(
        [&] { distribute_tensor(iota({4}), mesh, {Shard(0)}); },
        "`placements` must have the same length as `device_mesh.ndim`!");
    expect_error<std::invalid_argument>(
        [&] { distribute_tensor(iota({4}), mesh, {Shard(1), Replicate()}); },
        "distribute_tensor: S(1) is out of range for a tensor of 1 dims");
    expect_error<std::invalid_argument>(
        [&] { distribute_tensor(iota({4}), mesh, {Shard(0), Replicate()}, 2); },
        "distribute_tensor: src_data_rank 2 is out of range for mesh dim 0 of size 2");
  });
}

TEST(FromLocal, InfersTheGlobalShapeAssumingEvenShards) {
  sim::run(8, [] {
    DeviceMesh mesh({2, 4});
    CommDebugMode comm;
    EXPECT_EQ(DTensor::from_local(ones({3, 3}), mesh, {Shard(0), Shard(0)}).shape(),
              (Shape{24, 3}));
    EXPECT_EQ(DTensor::from_local(ones({3, 3}), mesh, {Replicate(), Shard(-1)}).shape(),
              (Shape{3, 12}));
    EXPECT_EQ(DTensor::from_local(ones({3, 3}), mesh, {Partial(), Replicate()}).shape(),
              (Shape{3, 3}));
    EXPECT_EQ(comm.total_count(), 0);
  });
  sim::run(8, [] {
    DeviceMesh mesh({2, 2, 2});
    EXPECT_EQ(DTensor::from_local(ones({3, 3, 3}), mesh, {Shard(0), Shard(0), Shard(2)}).shape(),
              (Shape{12, 3, 6}));
  });
}

TEST(FromLocal, DefaultsToReplicateAndSharesTheLocalTensor) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    Tensor local = iota({3});
    DTensor dt = DTensor::from_local(local, mesh);
    EXPECT_EQ(dt.placements(), (Placements{Replicate()}));
    EXPECT_TRUE(dt.to_local().shares_storage_with(local));
  });
}

TEST(FromLocal, ExplicitShapeDescribesUnevenShards) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    const LocalShard s = local_shard_of({5, 10}, {4}, {Shard(0)}, {rank});
    Tensor local = slice_of(iota({5, 10}), s);
    FromLocalOptions opts;
    opts.shape = Shape{5, 10};
    DTensor dt = DTensor::from_local(local, mesh, {Shard(0)}, opts);
    EXPECT_EQ(dt.shape(), (Shape{5, 10}));
    EXPECT_TRUE(equal(dt.full_tensor(), iota({5, 10})));
  });
}

TEST(FromLocal, ExplicitShapeMustMatchTheChunkRule) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    FromLocalOptions opts;
    opts.shape = Shape{5, 10};
    // Every rank claims 2 rows: wrong for ranks 2 (1 row) and 3 (0 rows).
    if (rank >= 2) {
      expect_error<std::invalid_argument>(
          [&] { DTensor::from_local(ones({2, 10}), mesh, {Shard(0)}, opts); },
          "from_local: local tensor shape [2, 10] on rank " + std::to_string(rank) +
              " does not match the shard");
    } else {
      EXPECT_NO_THROW(DTensor::from_local(ones({2, 10}), mesh, {Shard(0)}, opts));
    }
  });
}

TEST(FromLocal, RunCheckCatchesUnevenLocalsWithoutShape) {
  // The classic pitfall: 5 rows over 4 ranks passed without a shape would claim 8 rows.
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    const LocalShard s = local_shard_of({5, 10}, {4}, {Shard(0)}, {rank});
    FromLocalOptions opts;
    opts.run_check = true;
    expect_error<std::invalid_argument>(
        [&] { DTensor::from_local(slice_of(iota({5, 10}), s), mesh, {Shard(0)}, opts); },
        "Inconsistent tensor metadata (including shape and stride) across ranks.");
  });
}

TEST(FromLocal, RunCheckBroadcastsReplicatedData) {
  sim::run(3, [](int rank) {
    DeviceMesh mesh({3});
    FromLocalOptions opts;
    opts.run_check = true;
    CommDebugMode comm;
    DTensor dt = DTensor::from_local(rank_tagged({2, 2}, rank), mesh, {Replicate()}, opts);
    EXPECT_EQ(comm.count(CollectiveKind::Broadcast), 1);
    EXPECT_TRUE(equal(dt.to_local(), rank_tagged({2, 2}, 0)));
  });
}

TEST(FromLocal, RunCheckCatchesDtypeMismatch) {
  sim::run(2, [](int rank) {
    DeviceMesh mesh({2});
    FromLocalOptions opts;
    opts.run_check = true;
    Tensor local = rank == 0 ? ones({2}, DType::Float32) : ones({2}, DType::Float64);
    expect_error<std::invalid_argument>(
        [&] { DTensor::from_local(local, mesh, {Shard(0)}, opts); }, "Inconsistent tensor metadata");
  });
}

TEST(FullTensor, GathersEveryShardAndReducesPartials) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({2, 2});
    DTensor dt = distribute_tensor(iota({9, 5}), mesh, {Shard(0), Shard(1)});
    CommDebugMode comm;
    EXPECT_TRUE(equal(dt.full_tensor(), iota({9, 5})));
    EXPECT_EQ(comm.count(CollectiveKind::AllGather), 2);
    DTensor p = DTensor::from_local(full({3}, rank + 1.0), mesh, {Partial(), Partial(ReduceOp::Max)});
    // Max over mesh dim 1 then sum over mesh dim 0: rows (1,2) and (3,4) -> 2 + 4.
    EXPECT_TRUE(equal(p.full_tensor(), full({3}, 6.0)));
  });
}

TEST(Redistribute, IdenticalPlacementsAreANoOpOnTheSameLocal) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    DTensor dt = distribute_tensor(iota({4}), mesh, {Shard(0)});
    CommDebugMode comm;
    DTensor same = dt.redistribute({Shard(0)});
    EXPECT_EQ(comm.total_count(), 0);
    EXPECT_TRUE(same.to_local().shares_storage_with(dt.to_local()));
    EXPECT_EQ(dt.redistribute({Shard(-1)}).placements(), (Placements{Shard(0)}));
  });
}

TEST(Redistribute, PartialTargetsOnlyWhereTheyAlreadyAre) {
  sim::run(4, [] {
    DeviceMesh mesh({2, 2});
    auto make = [&](Placements ps) { return DTensor::from_local(ones({4, 4}), mesh, ps); };
    // Allowed: the Partial stays on its mesh dim.
    EXPECT_NO_THROW(make({Partial(), Shard(0)}).redistribute({Partial(), Shard(0)}));
    EXPECT_NO_THROW(make({Partial(), Shard(0)}).redistribute({Partial(), Shard(1)}));
    EXPECT_NO_THROW(make({Shard(0), Partial()}).redistribute({Replicate(), Partial()}));
    EXPECT_NO_THROW(make({Shard(0), Partial(ReduceOp::Product)})
                        .redistribute({Replicate(), Partial(ReduceOp::Product)}));
    // Rejected: a new Partial.
    const std::string internal = "redistributing to Partial is for internal use only!";
    expect_error<std::invalid_argument>(
        [&] { make({Shard(0), Replicate()}).redistribute({Shard(0), Partial()}); },
        "Can not redistribute from [S(0), R] to [S(0), P(sum)], " + internal);
    expect_error<std::invalid_argument>(
        [&] { make({Shard(0), Replicate()}).redistribute({Replicate(), Partial()}); }, internal);
    expect_error<std::invalid_argument>(
        [&] { make({Shard(0), Shard(1)}).redistribute({Replicate(), Partial()}); }, internal);
    expect_error<std::invalid_argument>(
        [&] {
          make({Shard(0), Partial(ReduceOp::Product)}).redistribute({Replicate(), Partial()});
        },
        "Redistribution from one partial type (P(product)) to another (P(sum)) is unsupported");
  });
}

TEST(Redistribute, RejectsAnotherMeshAndBadPlacements) {
  sim::run(4, [] {
    DeviceMesh mesh({4});
    DeviceMesh other({2, 2});
    DTensor dt = distribute_tensor(iota({8}), mesh, {Shard(0)});
    expect_error<std::runtime_error>([&] { dt.redistribute(other, {Replicate(), Replicate()}); },
                                          "Cross device mesh comm not supported yet!");
    expect_error<std::invalid_argument>([&] { dt.redistribute(Placements{}); },
                                             "placements is needed for redistribute!");
    expect_error<std::invalid_argument>([&] { dt.redistribute({Shard(1)}); },
                                             "redistribute: S(1) is out of range");
  });
}

TEST(Redistribute, LeavesTheSourceUntouched) {
  sim::run(3, [] {
    DeviceMesh mesh({3});
    DTensor p = DTensor::from_local(iota({6}), mesh, {Partial()});
    Tensor before = p.to_local().clone();
    DTensor r = p.redistribute({Replicate()});
    EXPECT_TRUE(equal(p.to_local(), before));
    EXPECT_TRUE(equal(r.to_local(), iota({6}) * 3.0));
  });
}

TEST(DTensor, RanksOutsideTheMeshHoldEmptyLocals) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh = DeviceMesh::from_ranks({2}, std::vector<int>{0, 2});
    DTensor dt = distribute_tensor(iota({6}), mesh, {Shard(0)});
    if (rank % 2 == 1) {
      EXPECT_EQ(dt.to_local().numel(), 0);
      EXPECT_EQ(dt.redistribute({Replicate()}).to_local().numel(), 0);
    } else {
      EXPECT_TRUE(equal(dt.to_local(), iota({6}).narrow(0, 3 * (rank / 2), 3)));
      EXPECT_TRUE(equal(dt.full_tensor(), iota({6})));
    }
  });
}

}  // namespace
}  // namespace tensorpar
