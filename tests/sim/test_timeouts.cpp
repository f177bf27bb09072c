// Timeout arguments: Milliseconds::max() (or any deadline past the clock's range) waits without
// a deadline; a negative timeout is rejected up front, naming the argument and the value.
#include "sim_testing.h"

namespace tensorpar {
namespace {

using namespace std::chrono_literals;
using sim_testing::error_of;

// Far past the steady clock's range (about 292 years of nanoseconds from its epoch).
constexpr Milliseconds kThousandYears =
    std::chrono::duration_cast<Milliseconds>(std::chrono::hours(24 * 365 * 1000));

TEST(SimTimeout, DeadlinesPastTheClocksRangeWaitWithoutOne) {
  for (Milliseconds timeout : {Milliseconds::max(), kThousandYears}) {
    SCOPED_TRACE(timeout.count());
    sim::run(3, [&](int rank) {
      Communicator& comm = current_world();
      Tensor t = full({4}, double(rank));
      comm.all_reduce(t, {.timeout = timeout})->wait(timeout);
      EXPECT_EQ(to_vector<double>(t), std::vector<double>(4, 3.0));
      comm.barrier({.timeout = timeout})->wait();
      Tensor m = full({2}, double(rank));
      if (rank == 0) comm.send(m, 1, {.timeout = timeout})->wait();
      if (rank == 1) {
        comm.recv(m, 0, {.timeout = timeout})->wait();
        EXPECT_EQ(to_vector<double>(m), std::vector<double>(2, 0.0));
      }
    });
  }
}

TEST(SimTimeout, RunOptionsAcceptTheLargestTimeout) {
  sim::run(
      2,
      [](int rank) {
        Tensor t = full({3}, double(rank + 1));
        current_world().all_reduce(t)->wait();
        EXPECT_EQ(to_vector<double>(t), std::vector<double>(3, 3.0));
      },
      sim::RunOptions{.timeout = Milliseconds::max()});
}

TEST(SimTimeout, NegativeTimeoutsAreRejectedNamingTheValue) {
  sim::run(2, [](int rank) {
    Communicator& comm = current_world();
    auto error = [](auto&& fn) { return error_of<std::invalid_argument>(fn); };
    Tensor t = zeros({4});
    Tensor out = zeros({8});
    EXPECT_EQ(error([&] { comm.all_reduce(t, {.timeout = -1ms}); }),
              "all_reduce: timeout must be >= 0 ms, got -1 ms (group [0, 1])");
    EXPECT_EQ(error([&] { comm.all_gather(out, t, {.timeout = -5ms}); }),
              "all_gather: timeout must be >= 0 ms, got -5 ms (group [0, 1])");
    EXPECT_EQ(error([&] { comm.barrier({.timeout = -1ms}); }),
              "barrier: timeout must be >= 0 ms, got -1 ms (group [0, 1])");
    EXPECT_EQ(error([&] { comm.recv(t, 1 - rank, {.timeout = -2ms}); }),
              "recv: timeout must be >= 0 ms, got -2 ms (group [0, 1])");
    // The group still works: nothing was issued.
    WorkPtr work = comm.all_reduce(t);
    EXPECT_EQ(error([&] { work->wait(-3ms); }),
              "Work::wait: timeout must be >= 0 ms, got -3 ms");
  });
  EXPECT_EQ(error_of<std::invalid_argument>(
                [] { sim::run(2, [](int) {}, sim::RunOptions{.timeout = -1ms}); }),
            "sim::run: timeout must be positive, got -1 ms");
}

}  // namespace
}  // namespace tensorpar
