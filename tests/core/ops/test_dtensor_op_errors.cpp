// Argument errors of ops on DTensors speak of what the user passed: the global shapes and
// placements, with the local shards as context when it was the local computation that failed.
// 4 rows on 3 ranks give uneven shards (torch.chunk): ranks 0 and 1 hold 2 rows, rank 2 none.
#include <gtest/gtest.h>

#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using testing::iota;

// What fn throws as std::invalid_argument ("" and a test failure otherwise).
std::string argument_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected std::invalid_argument, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected std::invalid_argument, nothing was thrown";
  return "";
}

// Rows of this rank's shard of 4 rows on 3 ranks.
std::int64_t rows_of(int rank) { return rank == 2 ? 0 : 2; }

TEST(DTensorOpErrors, MatmulNamesTheGlobalShapesAndTheLocalOnesAsContext) {
  sim::run(3, [](int rank) {
    DeviceMesh mesh({3});
    DTensor a = distribute_tensor(iota({4, 3}), mesh, {Shard(0)});
    DTensor b = distribute_tensor(iota({4, 5}), mesh, {Replicate()});
    EXPECT_EQ(argument_error([&] { matmul(a, b); }),
              cat("matmul on DTensor inputs global [4, 3] with [S(0)], global [4, 5] with [R] on "
                  "DeviceMesh([0, 1, 2]) failed on rank ", rank, "'s local shards [",
                  rows_of(rank), ", 3], [4, 5]: matmul: inner dims differ: a is [", rows_of(rank),
                  ", 3], b is [4, 5]"));
  });
}

TEST(DTensorOpErrors, BroadcastMismatchIsJudgedOnGlobalShapesEvenWhereLocalOnesWouldFit) {
  sim::run(3, [](int rank) {
    DeviceMesh mesh({3});
    // Globally [6, 3] + [2, 3] cannot broadcast, though each rank's [2, 3] shard matches b.
    DTensor a = distribute_tensor(iota({6, 3}), mesh, {Shard(0)});
    DTensor b = distribute_tensor(iota({2, 3}), mesh, {Replicate()});
    EXPECT_EQ(argument_error([&] { add(a, b); }),
              "add: shapes [6, 3] and [2, 3] cannot be broadcast (DTensor inputs: global [6, 3] "
              "with [S(0)], global [2, 3] with [R] on DeviceMesh([0, 1, 2]))");
  });
}

TEST(DTensorOpErrors, ReshapeNamesTheGlobalShapeAndPlacements) {
  sim::run(3, [](int rank) {
    DeviceMesh mesh({3});
    DTensor a = distribute_tensor(iota({4, 3}), mesh, {Shard(0)});
    EXPECT_EQ(argument_error([&] { reshape(a, {5, 2}); }),
              "reshape: shape [5, 2] is invalid for input of size 12 (shape [4, 3]) (DTensor "
              "inputs: global [4, 3] with [S(0)] on DeviceMesh([0, 1, 2]))");
    // -1 is resolved against the global shape: [4, 3] -> [2, 6] keeps the rows sharded.
    EXPECT_EQ(DTensor(reshape(a, {2, -1})).shape(), (Shape{2, 6}));
  });
}

TEST(DTensorOpErrors, TwoDimensionalMeshesNameEveryPlacement) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({2, 2});
    DTensor a = distribute_tensor(iota({4, 6}), mesh, {Shard(0), Shard(1)});
    DTensor b = distribute_tensor(iota({4, 6}), mesh, {Replicate(), Replicate()});
    EXPECT_EQ(argument_error([&] { matmul(a, b); }),
              cat("matmul on DTensor inputs global [4, 6] with [S(0), S(1)], global [4, 6] with "
                  "[R, R] on DeviceMesh([[0, 1], [2, 3]]) failed on rank ", rank,
                  "'s local shards [2, 3], [2, 6] (after redistributing the inputs to [S(0), "
                  "S(1)], [R, S(0)]): matmul: inner dims differ: a is [2, 3], b is [2, 6]"));
  });
}

}  // namespace
}  // namespace tensorpar
