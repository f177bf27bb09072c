// Every collective of the sim backend against closed-form expected values, for every reduce op,
// dtype and awkward world size, on both the small (staged) and large (zero-copy) paths. The
// bodies (collectives_cases.h) also run as gloo processes (test_collectives_processes.cpp).
#include "collectives_cases.h"

namespace tensorpar {
namespace {

namespace cases = collectives_cases;

struct Case {
  int world;
  DType dtype;
};

class Collectives : public ::testing::TestWithParam<Case> {
 protected:
  int world() const { return GetParam().world; }
  DType dtype() const { return GetParam().dtype; }
};

TEST_P(Collectives, AllReduceEveryOp) {
  sim::run(world(), [&](int rank) { cases::all_reduce_every_op(rank, dtype()); });
}

TEST_P(Collectives, AllGatherConcatenatesInRankOrder) {
  sim::run(world(), [&](int rank) { cases::all_gather_concatenates_in_rank_order(rank, dtype()); });
}

TEST_P(Collectives, ReduceScatterEveryOp) {
  sim::run(world(), [&](int rank) { cases::reduce_scatter_every_op(rank, dtype()); });
}

TEST_P(Collectives, AllToAllTransposesBlocks) {
  sim::run(world(), [&](int rank) { cases::all_to_all_transposes_blocks(rank, dtype()); });
}

TEST_P(Collectives, BroadcastCopiesTheRootsTensor) {
  sim::run(world(), [&](int rank) { cases::broadcast_copies_the_roots_tensor(rank, dtype()); });
}

TEST_P(Collectives, ScatterSendsBlockRankOfTheRootsInput) {
  sim::run(world(),
           [&](int rank) { cases::scatter_sends_block_rank_of_the_roots_input(rank, dtype()); });
}

TEST_P(Collectives, SendRecvAroundARing) {
  if (world() == 1) GTEST_SKIP() << "no peer to talk to";
  sim::run(world(), [&](int rank) { cases::send_recv_around_a_ring(rank, dtype()); });
}

TEST_P(Collectives, BarrierReleasesOnlyWhenEveryRankArrived) {
  sim::run(world(), [](int rank) { cases::barrier_releases_only_when_every_rank_arrived(rank); });
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return cat("W", info.param.world, "_", dtype_name(info.param.dtype));
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (int w : {1, 2, 3, 5, 7, 8}) {
    for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) cases.push_back({w, dt});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sim, Collectives, ::testing::ValuesIn(all_cases()), case_name);

class CollectivesWorld : public ::testing::TestWithParam<int> {};

TEST_P(CollectivesWorld, SplitIntoSubgroups) {
  sim::run(GetParam(), [](int rank) { cases::split_into_subgroups(rank); });
}

INSTANTIATE_TEST_SUITE_P(Sim, CollectivesWorld, ::testing::Values(1, 2, 3, 5, 7, 8),
                         [](const auto& info) { return cat("W", info.param); });

TEST(SimCollectives, AllReduceGivesBitIdenticalResultsOnEveryRank) {
  // Inexact float sums: every rank must still combine in the same (rank) order.
  for (std::int64_t n : {7, 30001}) {
    auto results = sim::run(7, [&](int rank) {
      Tensor t = cases::make(n, DType::Float32,
                             [&](std::int64_t i) { return 0.1 * (rank + 1) / (i + 3); });
      current_world().all_reduce(t)->wait();
      return t;
    });
    for (const Tensor& t : results) EXPECT_TRUE(equal(t, results[0])) << n << " elements";
  }
  // The same through an all_gather, as the gloo processes check it.
  sim::run(7, [](int rank) { cases::all_reduce_gives_bit_identical_results_on_every_rank(rank); });
}

TEST(SimCollectives, BFloat16ReducesThroughFloat) {
  sim::run(4, [](int rank) { cases::bfloat16_reduces_through_float(rank); });
}

TEST(SimCollectives, InPlaceAllGatherAndReduceScatter) {
  sim::run(5, [](int rank) { cases::in_place_all_gather_and_reduce_scatter(rank); });
}

TEST(SimCollectives, ManyAlternatingCallsKeepTheirData) {
  // Staged and zero-copy calls interleave while ranks drift apart: exercises double buffering.
  sim::run(6, [](int rank) { cases::many_alternating_calls_keep_their_data(rank); });
}

// Sim only: 64 processes are more than a test machine should start.
TEST(SimCollectives, SixtyFourRanks) {
  using cases::expected;
  using cases::make;
  using cases::values;
  const int w = 64;
  sim::run(w, [&](int rank) {
    Communicator& comm = current_world();
    for (std::int64_t n : {1, 5000}) {
      Tensor t = make(n, DType::Float64, [&](std::int64_t i) { return (rank + 1.0) * (i + 1); });
      comm.all_reduce(t)->wait();
      EXPECT_EQ(values(t), expected(n, [&](std::int64_t i) { return 2080.0 * (i + 1); }));
    }
    Tensor g = Tensor::empty({w * 3}, DType::Int64);
    comm.all_gather(g, make(3, DType::Int64, [&](std::int64_t i) { return rank * 3 + i; }))->wait();
    EXPECT_EQ(values(g), expected(w * 3, [](std::int64_t k) { return double(k); }));
    Tensor rs = Tensor::empty({2}, DType::Float32);
    comm.reduce_scatter(rs, make(w * 2, DType::Float32, [](std::int64_t k) { return double(k); }),
                        {.op = ReduceOp::Max})
        ->wait();
    EXPECT_EQ(values(rs), expected(2, [&](std::int64_t i) { return double(rank * 2 + i); }));
    Tensor a2a = Tensor::empty({w}, DType::Int64);
    comm.all_to_all(a2a, make(w, DType::Int64, [&](std::int64_t j) { return rank * w + j; }))
        ->wait();
    EXPECT_EQ(values(a2a), expected(w, [&](std::int64_t j) { return double(j * w + rank); }));
    Tensor b = make(4, DType::Float32, [&](std::int64_t i) { return rank == 63 ? i : -1.0; });
    comm.broadcast(b, {.root = 63})->wait();
    EXPECT_EQ(values(b), expected(4, [](std::int64_t i) { return double(i); }));
    comm.barrier()->wait();
  });
}

}  // namespace
}  // namespace tensorpar
