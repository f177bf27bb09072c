// Deadlocks are named at once: a cycle of ranks each sleeping in a sim operation that only the
// next one could complete fails every rank of the cycle within milliseconds (the collective
// timeout is a minute) with sim::DeadlockError naming the cycle from its lowest rank on. Ranks
// that are only slow are never flagged.
#include <array>
#include <atomic>
#include <thread>

#include "sim/wait_graph.h"
#include "sim_testing.h"

namespace tensorpar {
namespace {

using namespace std::chrono_literals;
using sim_testing::error_of;
using sim_testing::seconds_since;

TEST(SimDeadlock, TwoRanksReceivingFromEachOther) {
  const auto start = std::chrono::steady_clock::now();
  sim::run(2, [](int rank) {
    Tensor t = zeros({3});
    EXPECT_EQ(error_of<sim::DeadlockError>([&] { current_world().recv(t, 1 - rank)->wait(); }),
              "deadlock: rank 0 waits in recv from rank 1 (tag 0) in group [0, 1]; rank 1 waits "
              "in recv from rank 0 (tag 0) in group [0, 1]");
  });
  EXPECT_LT(seconds_since(start), 0.5);
}

TEST(SimDeadlock, ThreeRanksInARingOfReceives) {
  const auto start = std::chrono::steady_clock::now();
  sim::run(3, [](int rank) {
    Tensor t = zeros({2});
    EXPECT_EQ(error_of<sim::DeadlockError>(
                  [&] { current_world().recv(t, (rank + 1) % 3, {.tag = 7})->wait(); }),
              "deadlock: rank 0 waits in recv from rank 1 (tag 7) in group [0, 1, 2]; rank 1 "
              "waits in recv from rank 2 (tag 7) in group [0, 1, 2]; rank 2 waits in recv from "
              "rank 0 (tag 7) in group [0, 1, 2]");
  });
  EXPECT_LT(seconds_since(start), 0.5);
}

TEST(SimDeadlock, CrossingSubgroupBarriersOnATwoByTwoMesh) {
  // Rows [0, 1], [2, 3]; columns [0, 2], [1, 3]. Ranks 0 and 3 enter their row's barrier, ranks
  // 1 and 2 their column's: 0 waits for 1, 1 for 3, 3 for 2, 2 for 0.
  const auto start = std::chrono::steady_clock::now();
  sim::run(4, [](int rank) {
    auto row = current_world().split(rank / 2, rank);
    auto column = current_world().split(rank % 2, rank);
    Communicator& first = (rank == 0 || rank == 3) ? *row : *column;
    EXPECT_EQ(error_of<sim::DeadlockError>([&] { first.barrier()->wait(); }),
              "deadlock: rank 0 waits in barrier() in group [0, 1] for rank 1; rank 1 waits in "
              "barrier() in group [1, 3] for rank 3; rank 3 waits in barrier() in group [2, 3] "
              "for rank 2; rank 2 waits in barrier() in group [0, 2] for rank 0");
  });
  EXPECT_LT(seconds_since(start), 0.5);
}

TEST(SimDeadlock, ARecvAgainstAnAllReduce) {
  // Rank 0 receives from rank 1, which waits in an all_reduce for rank 0; rank 2, outside the
  // cycle, waits in the same all_reduce and fails with it.
  const auto start = std::chrono::steady_clock::now();
  sim::run(3, [](int rank) {
    const std::string cycle =
        "deadlock: rank 0 waits in recv from rank 1 (tag 0) in group [0, 1, 2]; rank 1 waits in "
        "all_reduce(sum, float32, 4 elements) in group [0, 1, 2] for rank 0";
    Tensor t = zeros({4});
    if (rank == 0) {
      EXPECT_EQ(error_of<sim::DeadlockError>([&] { current_world().recv(t, 1)->wait(); }), cycle);
    } else {
      EXPECT_EQ(error_of<sim::DeadlockError>([&] { current_world().all_reduce(t)->wait(); }),
                cycle);
    }
  });
  EXPECT_LT(seconds_since(start), 0.5);
}

TEST(SimDeadlock, ADeadlockIsATimeoutToCodeThatHandlesTimeouts) {
  sim::run(2, [](int rank) {
    Tensor t = zeros({1});
    EXPECT_THROW(current_world().recv(t, 1 - rank)->wait(), CommTimeoutError);
  });
}

TEST(SimDeadlock, SlowRanksAreNotDeadlocked) {
  // Every rank sleeps in the sim for a while, waiting on a rank that is busy elsewhere: a chain
  // 0 <- 1 <- 2 of receives, then an all_reduce that rank 2 joins late.
  sim::run(3, [](int rank) {
    Communicator& comm = current_world();
    Tensor t = full({2}, double(rank));
    if (rank == 2) {
      std::this_thread::sleep_for(100ms);
      comm.send(t, 1)->wait();
    } else {
      Tensor got = zeros({2});
      comm.recv(got, rank + 1)->wait();
      if (rank == 1) comm.send(got, 0)->wait();
      EXPECT_EQ(to_vector<double>(got), std::vector<double>(2, 2.0));
    }
    if (rank == 2) std::this_thread::sleep_for(100ms);
    comm.all_reduce(t)->wait();
    EXPECT_EQ(to_vector<double>(t), std::vector<double>(2, 3.0));
  });
}

TEST(SimDeadlock, AMessageSentBeforeTheCycleClosesBreaksIt) {
  // Rank 1 sends, then waits in a recv from rank 0; rank 0 receives rank 1's message late: no
  // cycle ever exists, though both sleep in a recv from the other at some point.
  sim::run(2, [](int rank) {
    Communicator& comm = current_world();
    Tensor t = full({1}, double(rank));
    if (rank == 1) {
      comm.send(t, 0)->wait();
      comm.recv(t, 0)->wait();
      EXPECT_EQ(t.item(), 1.0);
    } else {
      std::this_thread::sleep_for(50ms);
      comm.recv(t, 1)->wait();
      comm.send(t, 1)->wait();
    }
  });
}

TEST(SimDeadlock, DetectionCanBeTurnedOffToWaitForTheTimeout) {
  // Without detection both receives wait for the timeout. The rank whose timer fires first fails
  // with the timeout; its peer either times out as well or, if it is still waiting once the first
  // rank's function has returned, learns that the receive can never complete.
  std::array<std::string, 2> messages;
  sim::run(
      2,
      [&](int rank) {
        Tensor t = zeros({1});
        messages[rank] =
            error_of<CommTimeoutError>([&] { current_world().recv(t, 1 - rank)->wait(); });
      },
      sim::RunOptions{.timeout = 100ms, .detect_deadlocks = false});
  int timed_out = 0;
  for (int rank = 0; rank < 2; ++rank) {
    const std::string timeout = cat("recv timed out after 100 ms in group [0, 1]: rank ",
                                    1 - rank, " (tag 0) never sent");
    const std::string peer_ended = cat("recv can never complete in group [0, 1]: rank ", 1 - rank,
                                       " (tag 0) returned from its function without sending");
    EXPECT_TRUE(messages[rank] == timeout || messages[rank] == peer_ended)
        << "rank " << rank << ": " << messages[rank];
    timed_out += messages[rank] == timeout;
  }
  EXPECT_GE(timed_out, 1);
}

}  // namespace
}  // namespace tensorpar
