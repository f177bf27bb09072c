// How the sim backend fails: mismatched collectives, missing ranks, failing ranks, bad arguments.
// Every case finishes in well under a second and names the collective, the group and the ranks.
#include <atomic>
#include <mutex>
#include <thread>

#include "sim_testing.h"

namespace tensorpar {
namespace {

using namespace std::chrono_literals;
using sim_testing::error_of;
using sim_testing::seconds_since;

// Runs `call(rank)` on three ranks and expects every rank to fail with CommMismatchError `message`.
void expect_mismatch(const std::function<void(int)>& call, const std::string& message) {
  sim::run(3, [&](int rank) {
    EXPECT_EQ(error_of<CommMismatchError>([&] { call(rank); }), message) << "rank " << rank;
    // The group survives a mismatch: every rank threw at the same point.
    Tensor t = full({2}, rank);
    current_world().all_reduce(t)->wait();
    EXPECT_EQ(to_vector<double>(t), std::vector<double>({3.0, 3.0}));
  });
}

TEST(SimMismatch, DifferentCollectives) {
  expect_mismatch(
      [](int rank) {
        Tensor t = zeros({12});
        if (rank == 1) {
          Tensor out = zeros({36});
          current_world().all_gather(out, t)->wait();
        } else {
          current_world().all_reduce(t)->wait();
        }
      },
      "collective mismatch in group [0, 1, 2]: rank 0 called all_reduce(sum, float32, 12 "
      "elements), rank 1 called all_gather(float32, 12 elements), rank 2 called all_reduce(sum, "
      "float32, 12 elements)");
}

TEST(SimMismatch, DifferentSizes) {
  expect_mismatch(
      [](int rank) {
        Tensor t = zeros({rank == 2 ? 10 : 12});
        current_world().all_reduce(t)->wait();
      },
      "collective mismatch in group [0, 1, 2]: rank 0 called all_reduce(sum, float32, 12 "
      "elements), rank 1 called all_reduce(sum, float32, 12 elements), rank 2 called "
      "all_reduce(sum, float32, 10 elements)");
}

TEST(SimMismatch, SmallAgainstLargeMessage) {
  // One rank takes the staged path, the others the zero-copy one: still one clean failure.
  expect_mismatch(
      [](int rank) {
        Tensor t = zeros({rank == 0 ? 1 : 100000});
        current_world().all_reduce(t)->wait();
      },
      "collective mismatch in group [0, 1, 2]: rank 0 called all_reduce(sum, float32, 1 "
      "element), rank 1 called all_reduce(sum, float32, 100000 elements), rank 2 called "
      "all_reduce(sum, float32, 100000 elements)");
}

TEST(SimMismatch, DifferentDTypes) {
  expect_mismatch(
      [](int rank) {
        Tensor in = zeros({4}, rank == 1 ? DType::Float64 : DType::Float32);
        Tensor out = zeros({12}, in.dtype());
        current_world().all_gather(out, in)->wait();
      },
      "collective mismatch in group [0, 1, 2]: rank 0 called all_gather(float32, 4 elements), "
      "rank 1 called all_gather(float64, 4 elements), rank 2 called all_gather(float32, 4 "
      "elements)");
}

TEST(SimMismatch, DifferentReduceOps) {
  expect_mismatch(
      [](int rank) {
        Tensor out = zeros({4});
        current_world()
            .reduce_scatter(out, zeros({12}), {.op = rank == 0 ? ReduceOp::Max : ReduceOp::Sum})
            ->wait();
      },
      "collective mismatch in group [0, 1, 2]: rank 0 called reduce_scatter(max, float32, 4 "
      "elements), rank 1 called reduce_scatter(sum, float32, 4 elements), rank 2 called "
      "reduce_scatter(sum, float32, 4 elements)");
}

TEST(SimMismatch, DifferentRoots) {
  expect_mismatch(
      [](int rank) {
        Tensor t = zeros({12});
        current_world().broadcast(t, {.root = rank == 2 ? 1 : 0})->wait();
      },
      "collective mismatch in group [0, 1, 2]: rank 0 called broadcast(float32, 12 elements, root "
      "0), rank 1 called broadcast(float32, 12 elements, root 0), rank 2 called broadcast(float32, "
      "12 elements, root 1)");
}

TEST(SimMismatch, LargeGroupsListRunsOfEqualCalls) {
  sim::run(20, [](int rank) {
    auto call = [&] {
      if (rank == 19) {
        current_world().barrier()->wait();
      } else {
        Tensor t = zeros({3}, DType::Int64);
        current_world().all_reduce(t)->wait();
      }
    };
    std::string message = error_of<CommMismatchError>(call);
    EXPECT_THAT(message, ::testing::HasSubstr(
                             ": ranks 0 to 18 called all_reduce(sum, int64, 3 elements), rank 19 "
                             "called barrier()"));
  });
}

TEST(SimTimeout, MissingRankIsNamedQuickly) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> done{0};
  sim::run(4, [&](int rank) {
    if (rank == 3) {  // never joins; stays alive until the others gave up
      while (done.load() < 3) std::this_thread::sleep_for(1ms);
      return;
    }
    Tensor t = zeros({8});
    EXPECT_EQ(error_of<CommTimeoutError>(
                  [&] { current_world().all_reduce(t, {.timeout = 200ms})->wait(); }),
              "all_reduce timed out after 200 ms in group [0, 1, 2, 3]: ranks [3] never arrived");
    // The group is broken for good: later calls fail at once with the same diagnosis.
    EXPECT_THAT(error_of<CommTimeoutError>([&] { current_world().barrier()->wait(); }),
                ::testing::HasSubstr("ranks [3] never arrived"));
    done.fetch_add(1);
  });
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(SimTimeout, RunOptionsSetTheDefaultTimeout) {
  std::atomic<bool> done{false};
  sim::run(
      2,
      [&](int rank) {
        EXPECT_EQ(current_world().default_timeout(), 150ms);
        if (rank == 1) {
          while (!done.load()) std::this_thread::sleep_for(1ms);
          return;
        }
        EXPECT_EQ(error_of<CommTimeoutError>([&] { current_world().barrier()->wait(); }),
                  "barrier timed out after 150 ms in group [0, 1]: ranks [1] never arrived");
        done = true;
      },
      sim::RunOptions{.timeout = 150ms});
}

TEST(SimTimeout, SubgroupTimeoutNamesGlobalRanks) {
  std::atomic<bool> done{false};
  sim::run(6, [&](int rank) {
    auto column = current_world().split(rank % 3, rank);  // [0, 3], [1, 4], [2, 5]
    if (rank == 4) {
      while (!done.load()) std::this_thread::sleep_for(1ms);
      return;
    }
    if (rank != 1) return;
    Tensor out = zeros({4});
    EXPECT_EQ(error_of<CommTimeoutError>(
                  [&] { column->all_gather(out, zeros({2}), {.timeout = 100ms})->wait(); }),
              "all_gather timed out after 100 ms in group [1, 4]: ranks [4] never arrived");
    done = true;
  });
}

TEST(SimTimeout, RankThatReturnedFailsItsPeersAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  sim::run(3, [&](int rank) {
    if (rank == 2) return;  // skips the collective
    Tensor t = zeros({8});
    EXPECT_EQ(error_of<CommTimeoutError>([&] { current_world().all_reduce(t)->wait(); }),
              "all_reduce can never complete in group [0, 1, 2]: ranks [2] never arrived (they "
              "returned from their function)");
  });
  EXPECT_LT(seconds_since(start), 1.0);  // the default timeout is a minute
}

TEST(SimTimeout, EveryRankThatNeverArrivedIsNamed) {
  // Ranks 1, 2 and 3 all skip the all_reduce; rank 3 returns first, which is when rank 0 learns
  // the call can never complete. Ranks 1 and 2 are still running then, and never arrived either.
  std::atomic<bool> reported{false};
  sim::run(4, [&](int rank) {
    if (rank == 3) return;
    if (rank != 0) {
      while (!reported.load()) std::this_thread::sleep_for(1ms);
      return;
    }
    Tensor t = zeros({8});
    EXPECT_EQ(error_of<CommTimeoutError>([&] { current_world().all_reduce(t)->wait(); }),
              "all_reduce can never complete in group [0, 1, 2, 3]: ranks [1, 2, 3] never arrived "
              "(rank 3 returned from its function)");
    reported = true;
  });
}

TEST(SimTimeout, EveryRankThatReturnedIsNamedOnceAllHave) {
  sim::run(4, [&](int rank) {
    if (rank != 0) return;
    std::this_thread::sleep_for(50ms);  // ranks 1 to 3 have returned by now
    EXPECT_EQ(error_of<CommTimeoutError>([&] { current_world().barrier()->wait(); }),
              "barrier can never complete in group [0, 1, 2, 3]: ranks [1, 2, 3] never arrived "
              "(they returned from their function)");
  });
}

TEST(SimFailure, ThrowingRankIsReportedAndReleasesTheOthers) {
  const auto start = std::chrono::steady_clock::now();
  std::mutex mutex;
  std::vector<std::string> seen;
  try {
    sim::run(4, [&](int rank) {
      if (rank == 2) {
        std::this_thread::sleep_for(20ms);  // the others are already waiting
        throw std::runtime_error("boom");
      }
      Tensor t = zeros({100000});
      try {
        current_world().all_reduce(t)->wait();
      } catch (const CommError& e) {
        std::lock_guard<std::mutex> lock(mutex);
        seen.push_back(e.what());
        throw;
      }
    });
    FAIL() << "expected RankFailure";
  } catch (const sim::RankFailure& failure) {
    EXPECT_EQ(failure.rank(), 2);
    EXPECT_STREQ(failure.what(), "rank 2 failed: boom");
    EXPECT_THROW(failure.rethrow_cause(), std::runtime_error);
  }
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& message : seen) {
    EXPECT_EQ(message, "all_reduce aborted in group [0, 1, 2, 3]: rank 2 failed: boom");
  }
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(SimFailure, LaterCollectivesFailAtOnceAfterAFailure) {
  std::atomic<bool> failed{false};
  EXPECT_THROW(sim::run(3,
                        [&](int rank) {
                          if (rank == 0) {
                            failed = true;
                            throw std::logic_error("bad state");
                          }
                          while (!failed.load()) std::this_thread::sleep_for(1ms);
                          std::this_thread::sleep_for(5ms);
                          auto pair = current_world().split(0, rank);  // also fails
                        }),
               sim::RankFailure);
}

TEST(SimFailure, FailureInAnotherGroupReachesEveryGroup) {
  const auto start = std::chrono::steady_clock::now();
  try {
    sim::run(4, [](int rank) {
      auto pair = current_world().split(rank / 2, rank);  // [0, 1] and [2, 3]
      if (rank == 3) throw std::runtime_error("rank three broke");
      Tensor t = zeros({4});
      for (int i = 0; i < 1000000; ++i) pair->all_reduce(t)->wait();  // [0, 1] loop until aborted
    });
    FAIL() << "expected RankFailure";
  } catch (const sim::RankFailure& failure) {
    EXPECT_EQ(failure.rank(), 3);
    EXPECT_STREQ(failure.what(), "rank 3 failed: rank three broke");
  }
  EXPECT_LT(seconds_since(start), 2.0);
}

TEST(SimPointToPoint, RecvTimesOut) {
  std::atomic<bool> done{false};
  sim::run(2, [&](int rank) {
    if (rank == 0) {
      while (!done.load()) std::this_thread::sleep_for(1ms);
      return;
    }
    Tensor t = zeros({3});
    EXPECT_EQ(error_of<CommTimeoutError>(
                  [&] { current_world().recv(t, 0, {.tag = 5, .timeout = 100ms})->wait(); }),
              "recv timed out after 100 ms in group [0, 1]: rank 0 (tag 5) never sent");
    done = true;
  });
}

TEST(SimPointToPoint, RecvFromARankThatReturnedFailsAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  sim::run(2, [&](int rank) {
    if (rank == 0) return;
    Tensor t = zeros({3});
    EXPECT_EQ(error_of<CommTimeoutError>([&] { current_world().recv(t, 0)->wait(); }),
              "recv can never complete in group [0, 1]: rank 0 (tag 0) returned from its "
              "function without sending");
  });
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(SimPointToPoint, MessagesOutliveTheirSenderAndMatchByTag) {
  sim::run(2, [](int rank) {
    if (rank == 0) {
      current_world().send(full({2}, 1.0), 1, {.tag = 1})->wait();
      current_world().send(full({2}, 2.0), 1, {.tag = 2})->wait();
      current_world().send(full({2}, 3.0), 1, {.tag = 1})->wait();
      return;
    }
    std::this_thread::sleep_for(20ms);  // rank 0 has returned by now
    Tensor t = zeros({2});
    current_world().recv(t, 0, {.tag = 2})->wait();
    EXPECT_EQ(to_vector<double>(t)[0], 2.0);
    current_world().recv(t, 0, {.tag = 1})->wait();
    EXPECT_EQ(to_vector<double>(t)[0], 1.0);
    current_world().recv(t, 0, {.tag = 1})->wait();
    EXPECT_EQ(to_vector<double>(t)[0], 3.0);
  });
}

TEST(SimPointToPoint, RecvChecksDTypeAndSize) {
  sim::run(2, [](int rank) {
    if (rank == 0) {
      current_world().send(zeros({4}, DType::Float64), 1)->wait();
      current_world().send(zeros({5}), 1)->wait();
      return;
    }
    Tensor t = zeros({4});
    EXPECT_EQ(error_of<CommError>([&] { current_world().recv(t, 0)->wait(); }),
              "recv: the message from rank 0 (tag 0) holds 4 float64 elements but the receive "
              "buffer holds 4 float32 elements (group [0, 1])");
    EXPECT_EQ(error_of<CommError>([&] { current_world().recv(t, 0)->wait(); }),
              "recv: the message from rank 0 (tag 0) holds 5 float32 elements but the receive "
              "buffer holds 4 float32 elements (group [0, 1])");
  });
}

TEST(SimWork, WaitRethrowsEveryTime) {
  sim::run(2, [](int rank) {
    Tensor t = zeros({rank + 1});
    WorkPtr work = current_world().all_reduce(t);
    EXPECT_TRUE(work->is_completed());
    EXPECT_THROW(work->wait(), CommMismatchError);
    EXPECT_THROW(work->wait(), CommMismatchError);
  });
}

TEST(SimArguments, EveryCollectiveChecksItsArguments) {
  sim::run(3, [](int rank) {
    Communicator& comm = current_world();
    auto error = [](auto&& fn) { return error_of<std::invalid_argument>(fn); };
    Tensor undefined;
    Tensor f4 = zeros({4});
    Tensor f12 = zeros({12});
    Tensor f10 = zeros({10});
    EXPECT_EQ(error([&] { comm.all_reduce(undefined); }),
              "all_reduce: tensor is undefined (group [0, 1, 2])");
    EXPECT_EQ(error([&] { comm.all_gather(f10, f4); }),
              "all_gather: output has 10 elements but needs 3 x 4 = 12 (input has 4) "
              "(group [0, 1, 2])");
    Tensor d12 = zeros({12}, DType::Float64);
    EXPECT_EQ(
        error([&] { comm.all_gather(d12, f4); }),
        "all_gather: output dtype float64 differs from input dtype float32 (group [0, 1, 2])");
    EXPECT_EQ(error([&] { comm.reduce_scatter(f4, f10); }),
              "reduce_scatter: input has 10 elements but needs 3 x 4 = 12 (output has 4) "
              "(group [0, 1, 2])");
    EXPECT_EQ(error([&] { comm.reduce_scatter(undefined, f12); }),
              "reduce_scatter: output is undefined (group [0, 1, 2])");
    Tensor g10 = zeros({10});
    EXPECT_EQ(error([&] { comm.all_to_all(g10, f10); }),
              "all_to_all: input has 10 elements, not divisible into 3 blocks (group [0, 1, 2])");
    EXPECT_EQ(error([&] { comm.all_to_all(f4, f12); }),
              "all_to_all: output has 4 elements but input has 12 (group [0, 1, 2])");
    EXPECT_EQ(error([&] { comm.all_to_all(f12, f12); }),
              "all_to_all: output and input overlap in memory (group [0, 1, 2])");
    EXPECT_EQ(error([&] { comm.broadcast(f4, {.root = 3}); }),
              "broadcast: root 3 is out of range for a group of size 3 (group [0, 1, 2])");
    EXPECT_EQ(error([&] { comm.scatter(f4, f12, {.root = -1}); }),
              "scatter: root -1 is out of range for a group of size 3 (group [0, 1, 2])");
    if (rank == 0) {
      EXPECT_EQ(error([&] { comm.scatter(f4, f10); }),
                "scatter: input has 10 elements but needs 3 x 4 = 12 (output has 4) "
                "(group [0, 1, 2])");
    }
    EXPECT_EQ(error([&] { comm.send(f4, rank); }),
              cat("send: dst ", rank, " is this rank itself (group [0, 1, 2])"));
    EXPECT_EQ(error([&] { comm.recv(f4, 5); }),
              "recv: src 5 is out of range for a group of size 3 (group [0, 1, 2])");
    // Nothing reached the backend: the group is in step.
    comm.barrier()->wait();
  });
}

}  // namespace
}  // namespace tensorpar
