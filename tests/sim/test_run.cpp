// sim::run: rank threads, results in rank order, the current world, bad world sizes.
#include <atomic>
#include <set>
#include <thread>

#include "core/dtensor/dtensor.h"
#include "sim_testing.h"

namespace tensorpar {
namespace {

using sim_testing::error_of;

TEST(SimRun, ReturnsResultsInRankOrder) {
  auto squares = sim::run(5, [](int rank) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * (5 - rank)));  // finish in reverse
    return rank * rank;
  });
  EXPECT_EQ(squares, std::vector<int>({0, 1, 4, 9, 16}));
}

TEST(SimRun, FunctionsWithoutARankUseTheCurrentWorld) {
  auto names = sim::run(3, [] {
    return cat(current_world().rank(), "/", current_world().size(), " ", current_world().backend());
  });
  EXPECT_EQ(names, std::vector<std::string>({"0/3 sim", "1/3 sim", "2/3 sim"}));
}

TEST(SimRun, VoidFunctionsRunOncePerRank) {
  std::atomic<int> calls{0};
  std::atomic<int> rank_sum{0};
  sim::run(6, [&](int rank) {
    calls.fetch_add(1);
    rank_sum.fetch_add(rank);
  });
  sim::run(2, [&] { calls.fetch_add(1); });
  EXPECT_EQ(calls.load(), 8);
  EXPECT_EQ(rank_sum.load(), 15);
}

TEST(SimRun, EachRankIsItsOwnThreadWithTheWholeWorld) {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  sim::run(4, [&](int rank) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      threads.insert(std::this_thread::get_id());
    }
    EXPECT_TRUE(has_current_world());
    EXPECT_EQ(current_world().rank(), rank);
    EXPECT_EQ(current_world().global_ranks(), std::vector<int>({0, 1, 2, 3}));
    EXPECT_EQ(current_world().describe(), "group [0, 1, 2, 3]");
    EXPECT_EQ(current_world().default_timeout(), sim::RunOptions{}.timeout);
  });
  EXPECT_EQ(threads.size(), 4u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(SimRun, NoCurrentWorldOutsideARun) {
  EXPECT_FALSE(has_current_world());
  EXPECT_EQ(error_of<std::runtime_error>([] { current_world(); }),
            "no current world communicator: run inside sim::run(...) or the NCCL launcher");
}

TEST(SimRun, RejectsInvalidWorldSizes) {
  for (int w : {0, -1, 1025}) {
    EXPECT_EQ(error_of<std::invalid_argument>([&] { sim::run(w, [](int) {}); }),
              cat("sim::run: world_size must be in [1, 1024], got ", w));
  }
}

TEST(SimRun, OneRankWorldRunsEveryCollective) {
  sim::run(1, [] {
    Communicator& comm = current_world();
    Tensor t = full({3}, 2.0);
    comm.all_reduce(t, {.op = ReduceOp::Avg})->wait();
    EXPECT_EQ(to_vector<double>(t), std::vector<double>({2.0, 2.0, 2.0}));
    Tensor out = zeros({3});
    comm.all_gather(out, t)->wait();
    comm.reduce_scatter(out, t)->wait();
    comm.all_to_all(out, t)->wait();
    comm.broadcast(t)->wait();
    comm.barrier()->wait();
    EXPECT_EQ(to_vector<double>(out), std::vector<double>({2.0, 2.0, 2.0}));
  });
}

TEST(SimRun, ThousandAndTwentyFourRanks) {
  auto sums = sim::run(1024, [](int rank) {
    Tensor t = full({1}, 1.0, DType::Int64);
    current_world().all_reduce(t)->wait();
    current_world().barrier()->wait();
    return t.item();
  });
  EXPECT_EQ(sums, std::vector<double>(1024, 1024.0));
}

TEST(SimRun, ADTensorKeptPastItsRunSaysItsMeshBelongsToARunThatHasEnded) {
  std::vector<DTensor> kept(2);
  sim::run(2, [&](int rank) {
    DeviceMesh mesh({2});
    kept[rank] = distribute_tensor(full({4, 3}, 1.0), mesh, {Shard(0)});
  });
  sim::run(2, [&](int rank) {
    EXPECT_EQ(error_of<CommError>([&] { kept[rank].full_tensor(); }),
              "all_gather in group [0, 1]: this communicator belongs to a sim::run that has "
              "ended; a DeviceMesh and its DTensors live only as long as the run that made "
              "them, so make them inside the run that uses them");
    // The run's own world is untouched.
    Tensor t = full({1}, 1.0);
    current_world().all_reduce(t)->wait();
    EXPECT_EQ(t.item(), 2.0);
  });
}

TEST(SimRun, RankFailureNamesTheRankAndKeepsTheCause) {
  try {
    sim::run(3, [](int rank) {
      if (rank == 1) throw std::out_of_range("index 7");
    });
    FAIL() << "expected RankFailure";
  } catch (const sim::RankFailure& failure) {
    EXPECT_EQ(failure.rank(), 1);
    EXPECT_STREQ(failure.what(), "rank 1 failed: index 7");
    EXPECT_THROW(failure.rethrow_cause(), std::out_of_range);
  }
}

}  // namespace
}  // namespace tensorpar
