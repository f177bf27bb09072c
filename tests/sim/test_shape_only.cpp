// The shape-only communicator and run (sim/shape_only_communicator.h, sim/shape_only_run.h):
// collectives recorded as CommDebugMode records them, nothing moved, groups built from the
// partition, and a DTensor program's collective sequence equal to the real sim's, per rank.
#include <gtest/gtest.h>

#include "core/comm/rank_context.h"
#include "core/dtensor/device_mesh.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/tensor/meta_device.h"
#include "sim/shape_only_communicator.h"
#include "sim/shape_only_run.h"
#include "sim/world.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using testing::expect_error;

Tensor meta_tensor(const Shape& shape, DType dtype = DType::Float32) {
  return Tensor::empty(shape, dtype, meta_device());
}

// The fields a collective sequence is compared on.
void expect_same_records(const std::vector<CollectiveRecord>& got,
                         const std::vector<CollectiveRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got[i].kind, want[i].kind);
    EXPECT_EQ(got[i].bytes, want[i].bytes);
    EXPECT_EQ(got[i].group, want[i].group);
    EXPECT_EQ(got[i].op, want[i].op);
    EXPECT_EQ(got[i].phase, want[i].phase);
    EXPECT_EQ(got[i].module, want[i].module);
  }
}

TEST(ShapeOnlyCommunicator, RecordsEveryCallAsCommDebugModeDoes) {
  auto log = std::make_shared<sim::CollectiveLog>();
  sim::ShapeOnlyCommunicator comm({0, 2, 4}, 1, log);
  Tensor t = meta_tensor({6});
  Tensor gathered = meta_tensor({18});
  Tensor out = meta_tensor({2});
  CommDebugMode mode;
  comm.all_reduce(t, {.op = ReduceOp::Max})->wait();
  comm.all_gather(gathered, t)->wait();
  comm.reduce_scatter(out, t)->wait();
  Tensor exchanged = meta_tensor({6});
  comm.all_to_all(exchanged, t)->wait();
  {
    const CommPhaseScope backward(CommPhase::Backward);
    const std::string fqn = "layers.0.w1";
    const CommModuleScope module(fqn);
    comm.broadcast(t, {.root = 2})->wait();
  }
  comm.scatter(out, t, {.root = 1})->wait();
  comm.send(t, 0)->wait();
  comm.recv(t, 2)->wait();
  comm.barrier()->wait();
  expect_same_records(*log, mode.records());
  ASSERT_EQ(log->size(), 9u);
  EXPECT_EQ((*log)[0].bytes, 24);
  EXPECT_EQ((*log)[0].op, ReduceOp::Max);
  EXPECT_EQ((*log)[1].bytes, 72);  // the gathered output
  EXPECT_EQ((*log)[2].bytes, 24);  // reduce_scatter's input
  EXPECT_EQ((*log)[4].phase, CommPhase::Backward);
  EXPECT_EQ((*log)[4].module, "layers.0.w1");
  EXPECT_EQ((*log)[5].bytes, 24);  // scatter: the root's whole input
  EXPECT_EQ((*log)[0].group, (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(comm.backend(), "shape_only");
}

TEST(ShapeOnlyCommunicator, BuildsSubgroupsFromThePartitionAndRefusesSplit) {
  auto log = std::make_shared<sim::CollectiveLog>();
  auto world =
      std::make_shared<sim::ShapeOnlyCommunicator>(std::vector<int>{0, 1, 2, 3, 4, 5}, 4, log);
  auto group = world->subgroup({{0, 2, 4}, {1, 3, 5}});
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->global_ranks(), (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(group->rank(), 2);
  Tensor t = meta_tensor({3});
  group->all_reduce(t)->wait();
  EXPECT_EQ(log->back().group, (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(world->subgroup({{0, 1}}), nullptr);  // rank 4 is in no group
  expect_error<CommError>([&] { world->split(0, 0); }, "a shape-only rank never sees");
}

// Redistributions of an uneven DTensor on a 2-D mesh (5 x 3 over 6 ranks): the same calls in the
// same order with the same bytes and groups as the real sim, rank by rank.
std::vector<CollectiveRecord> redistribute_program(int) {
  const DeviceMesh mesh({2, 3}, {"dp", "tp"});
  const Tensor whole = zeros({5, 7});
  CommDebugMode mode;
  DTensor x = distribute_tensor(whole, mesh, {Shard(0), Shard(1)});
  DTensor y = x.redistribute({Replicate(), Shard(0)});
  DTensor z = y.redistribute({Shard(1), Replicate()});
  const Tensor r = DTensor(z * 2.0).full_tensor();
  return mode.records();
}

TEST(ShapeOnlyRun, ADTensorProgramIssuesTheRealSimsCollectives) {
  const auto real = sim::run(6, [](int rank) { return redistribute_program(rank); });
  const auto shape_only = sim::run_shape_only(6, [](int rank, sim::ShapeOnlyRecording& rec) {
    rec.restart();
    redistribute_program(rank);
  });
  for (int r = 0; r < 6; ++r) {
    SCOPED_TRACE(r);
    EXPECT_EQ(shape_only[r].represented_by, r);
    // The mesh's subgroups are built before the program's CommDebugMode opens: only its calls.
    expect_same_records(*shape_only[r].collectives, real[r]);
    EXPECT_FALSE(shape_only[r].ops->empty());
  }
}

// from_local's run_check reads its peers' metadata on a real backend; shape-only it issues the
// same all_gathers and broadcast, so the sequence is still the real one.
std::vector<CollectiveRecord> checked_from_local(int) {
  const DeviceMesh mesh({3});
  CommDebugMode mode;
  const DTensor x = DTensor::from_local(zeros({2, 4}), mesh, {Shard(0)}, {.run_check = true});
  const DTensor y = DTensor::from_local(zeros({5}), mesh, {Replicate()}, {.run_check = true});
  EXPECT_EQ(x.shape(), (Shape{6, 4}));
  return mode.records();
}

TEST(ShapeOnlyRun, FromLocalsRunCheckIssuesTheRealCollectives) {
  const auto real = sim::run(3, [](int rank) { return checked_from_local(rank); });
  const auto shape_only =
      sim::run_shape_only(3, [](int rank, sim::ShapeOnlyRecording&) { checked_from_local(rank); });
  for (int r = 0; r < 3; ++r) {
    SCOPED_TRACE(r);
    ASSERT_EQ(real[r].size(), 5u);  // two all_gathers per from_local, the replica's broadcast
    expect_same_records(*shape_only[r].collectives, real[r]);
  }
}

TEST(ShapeOnlyRun, EachRankHasItsOwnMemoryAccount) {
  const auto ranks = sim::run_shape_only(3, [](int rank, sim::ShapeOnlyRecording&) {
    const Tensor big = Tensor::empty({100 * (rank + 1)}, DType::Float32);
    EXPECT_EQ(big.device(), meta_device());
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(ranks[r].peak_bytes, std::size_t(400 * (r + 1)));
    EXPECT_EQ(ranks[r].end_bytes, 0u);
  }
}

TEST(ShapeOnlyRun, ARepresentativeRunsForItsClass) {
  std::atomic<int> bodies{0};
  sim::ShapeOnlyOptions options;
  options.representative = [](int rank) { return rank < 2 ? rank : 2; };
  options.parallelism = 2;
  const auto ranks = sim::run_shape_only(
      5,
      [&](int rank, sim::ShapeOnlyRecording&) {
        ++bodies;
        Tensor t = Tensor::empty({4}, DType::Float32);
        current_world().all_reduce(t)->wait();
        (void)rank;
      },
      options);
  EXPECT_EQ(bodies.load(), 3);
  EXPECT_EQ(ranks[4].represented_by, 2);
  EXPECT_EQ(ranks[4].rank, 4);
  EXPECT_EQ(ranks[4].collectives, ranks[2].collectives);
  EXPECT_EQ(ranks[4].collectives->size(), 1u);
}

TEST(ShapeOnlyRun, BadArgumentsAndFailuresAreReported) {
  expect_error<std::invalid_argument>(
      [] { sim::run_shape_only(0, [](int, sim::ShapeOnlyRecording&) {}); },
      "run_shape_only: world_size must be in [1, 65536], got 0");
  sim::ShapeOnlyOptions options;
  options.representative = [](int rank) { return rank == 0 ? 1 : 0; };
  expect_error<std::invalid_argument>(
      [&] {
        sim::run_shape_only(
            2, [](int, sim::ShapeOnlyRecording&) {}, options);
      },
      "representative(0) is 1 but rank 1 is represented by 0");
  expect_error<sim::RankFailure>(
      [] {
        sim::run_shape_only(3, [](int rank, sim::ShapeOnlyRecording&) {
          if (rank == 1) Tensor::empty({1}).item();
        });
      },
      "rank 1 failed: Tensor::item: meta tensors have no values");
}

}  // namespace
}  // namespace tensorpar
