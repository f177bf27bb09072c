// GlooCommunicator: every collective against closed-form values at W = 2, 3, 4, every reduce op
// and dtype, in place and empty buffers, send/recv, split, timeouts, a dead peer, and the
// CommDebugMode records the sim makes for the same calls.
#include <gmock/gmock.h>

#include <atomic>
#include <cmath>
#include <latch>

#include "core/comm/comm_debug_mode.h"
#include "gloo_testing.h"
#include "sim/sim_testing.h"

namespace tensorpar {
namespace {

using gloo_testing::run_gloo;
using sim_testing::error_of;
using sim_testing::expected;
using sim_testing::make;
using sim_testing::seconds_since;
using sim_testing::values;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr DType kDtypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16};
constexpr ReduceOp kOps[] = {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min,
                             ReduceOp::Product};

// Small integers, exact in every dtype: rank r's element i.
double element(int r, std::int64_t i) { return (r + 1) + static_cast<double>(i % 3); }

// op over ranks 0..w-1 of value(r); Avg of int64 truncates.
double reduce(ReduceOp op, DType dtype, int w, const std::function<double(int)>& value) {
  double acc = value(0);
  for (int r = 1; r < w; ++r) {
    const double v = value(r);
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Avg:
        acc += v;
        break;
      case ReduceOp::Product:
        acc *= v;
        break;
      case ReduceOp::Max:
        acc = std::max(acc, v);
        break;
      case ReduceOp::Min:
        acc = std::min(acc, v);
        break;
    }
  }
  if (op == ReduceOp::Avg) acc = dtype == DType::Int64 ? std::trunc(acc / w) : acc / w;
  return acc;
}

class GlooWorld : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(W, GlooWorld, ::testing::Values(2, 3, 4));

TEST_P(GlooWorld, AllReduceEveryOpAndDtype) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    for (std::int64_t n : {std::int64_t{7}, std::int64_t{40003}}) {
      for (DType dtype : kDtypes) {
        for (ReduceOp op : kOps) {
          Tensor t = make(n, dtype, [&](std::int64_t i) { return element(rank, i); });
          comm.all_reduce(t, {.op = op})->wait();
          ASSERT_EQ(values(t), expected(n,
                                        [&](std::int64_t i) {
                                          return reduce(op, dtype, w,
                                                        [&](int r) { return element(r, i); });
                                        }))
              << dtype_name(dtype) << " " << reduce_op_name(op) << " n=" << n;
        }
      }
    }
  });
}

TEST_P(GlooWorld, AllGatherPutsRankBlocksInOrder) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    for (DType dtype : kDtypes) {
      const std::int64_t n = 5;
      Tensor in = make(n, dtype, [&](std::int64_t i) { return rank * 10 + i; });
      Tensor out = zeros({n * w}, dtype);
      comm.all_gather(out, in)->wait();
      EXPECT_EQ(values(out), expected(n * w, [&](std::int64_t j) { return (j / n) * 10 + j % n; }))
          << dtype_name(dtype);
    }
  });
}

TEST_P(GlooWorld, AllGatherInPlace) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    const std::int64_t n = 3;
    Tensor out = make(n * w, DType::Float32,
                      [&](std::int64_t j) { return j / n == rank ? 100.0 * rank + j % n : -1.0; });
    Tensor in = out.narrow(0, rank * n, n);  // a view: block rank() of out
    comm.all_gather(out, in)->wait();
    EXPECT_EQ(values(out),
              expected(n * w, [&](std::int64_t j) { return 100.0 * (j / n) + j % n; }));
  });
}

TEST_P(GlooWorld, ReduceScatterEveryOpAndDtype) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    for (std::int64_t n : {std::int64_t{5}, std::int64_t{30001}}) {
      for (DType dtype : kDtypes) {
        for (ReduceOp op : kOps) {
          // Rank r's element j of the input: element(r, j) + j / n (block j / n).
          auto value = [n](int r, std::int64_t j) { return element(r, j) + double(j / n); };
          Tensor in = make(n * w, dtype, [&](std::int64_t j) { return value(rank, j); });
          Tensor out = zeros({n}, dtype);
          comm.reduce_scatter(out, in, {.op = op})->wait();
          ASSERT_EQ(values(out), expected(n,
                                          [&](std::int64_t i) {
                                            return reduce(op, dtype, w, [&](int r) {
                                              return value(r, rank * n + i);
                                            });
                                          }))
              << dtype_name(dtype) << " " << reduce_op_name(op) << " n=" << n;
        }
      }
    }
  });
}

TEST_P(GlooWorld, AllToAllSendsBlockJToRankJ) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    for (DType dtype : kDtypes) {
      const std::int64_t n = 3;
      // Block j of rank r's input holds 16 r + 4 j + i (exact in bfloat16); rank r receives
      // block r of every rank.
      Tensor in =
          make(n * w, dtype, [&](std::int64_t k) { return 16.0 * rank + 4 * (k / n) + k % n; });
      Tensor out = zeros({n * w}, dtype);
      comm.all_to_all(out, in)->wait();
      EXPECT_EQ(values(out),
                expected(n * w, [&](std::int64_t k) { return 16.0 * (k / n) + 4 * rank + k % n; }))
          << dtype_name(dtype);
    }
  });
}

TEST_P(GlooWorld, BroadcastFromEveryRoot) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    for (int root = 0; root < w; ++root) {
      Tensor t = make(6, DType::Float64, [&](std::int64_t i) { return rank * 7.0 + i; });
      comm.broadcast(t, {.root = root})->wait();
      EXPECT_EQ(values(t), expected(6, [&](std::int64_t i) { return root * 7.0 + i; }));
    }
  });
}

TEST_P(GlooWorld, ScatterFromEveryRoot) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    const std::int64_t n = 4;
    for (int root = 0; root < w; ++root) {
      Tensor in = rank == root
                      ? make(n * w, DType::Int64, [&](std::int64_t k) { return root * 1000.0 + k; })
                      : Tensor();
      Tensor out = zeros({n}, DType::Int64);
      comm.scatter(out, in, {.root = root})->wait();
      EXPECT_EQ(values(out),
                expected(n, [&](std::int64_t i) { return root * 1000.0 + rank * n + i; }));
    }
  });
}

TEST_P(GlooWorld, EmptyTensorsCompleteWithoutTraffic) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int) {
    Tensor empty = zeros({0});
    comm.all_reduce(empty)->wait();
    comm.all_gather(empty, zeros({0}))->wait();
    comm.reduce_scatter(empty, zeros({0}))->wait();
    comm.all_to_all(empty, zeros({0}))->wait();
    comm.broadcast(empty)->wait();
    // The ring still works afterwards.
    Tensor one = full({1}, 1.0);
    comm.all_reduce(one)->wait();
    EXPECT_EQ(values(one), std::vector<double>{double(w)});
  });
}

TEST_P(GlooWorld, BarrierReturnsOnceEveryRankArrived) {
  const int w = GetParam();
  std::atomic<int> arrived = 0;
  run_gloo(w, [&](Communicator& comm, int rank) {
    if (rank == 0) std::this_thread::sleep_for(50ms);
    arrived.fetch_add(1);
    comm.barrier()->wait();
    EXPECT_EQ(arrived.load(), w);
  });
}

TEST_P(GlooWorld, SendRecvAroundTheRingInTagOrder) {
  const int w = GetParam();
  run_gloo(w, [w](Communicator& comm, int rank) {
    const int next = (rank + 1) % w, prev = (rank + w - 1) % w;
    // Two messages on tag 0 and one on tag 5, sent before any recv is posted.
    auto a = comm.send(full({3}, rank * 10.0 + 1), next);
    auto b = comm.send(full({3}, rank * 10.0 + 2), next);
    auto c = comm.send(full({2}, rank * 10.0 + 3), next, {.tag = 5});
    Tensor got5 = zeros({2}), first = zeros({3}), second = zeros({3});
    comm.recv(got5, prev, {.tag = 5})->wait();
    comm.recv(first, prev)->wait();
    comm.recv(second, prev)->wait();
    a->wait();
    b->wait();
    c->wait();
    EXPECT_EQ(values(first), std::vector<double>(3, prev * 10.0 + 1));
    EXPECT_EQ(values(second), std::vector<double>(3, prev * 10.0 + 2));
    EXPECT_EQ(values(got5), std::vector<double>(2, prev * 10.0 + 3));
  });
}

TEST(GlooCommunicator, SendCopiesTheTensorSoTheCallerMayReuseIt) {
  run_gloo(2, [](Communicator& comm, int rank) {
    if (rank == 0) {
      Tensor t = full({4}, 7.0);
      auto work = comm.send(t, 1);
      t.fill_(0.0);
      work->wait();
    } else {
      Tensor got = zeros({4});
      comm.recv(got, 0)->wait();
      EXPECT_EQ(values(got), std::vector<double>(4, 7.0));
    }
  });
}

TEST(GlooCommunicator, SplitIntoRowsAndColumnsOfATwoByTwoMesh) {
  run_gloo(4, [](Communicator& comm, int rank) {
    auto row = comm.split(rank / 2, rank);
    auto col = comm.split(rank % 2, rank);
    ASSERT_TRUE(row && col);
    EXPECT_EQ(row->global_ranks(), rank < 2 ? std::vector<int>({0, 1}) : std::vector<int>({2, 3}));
    EXPECT_EQ(col->global_ranks(),
              rank % 2 == 0 ? std::vector<int>({0, 2}) : std::vector<int>({1, 3}));
    EXPECT_EQ(row->rank(), rank % 2);
    EXPECT_EQ(col->rank(), rank / 2);
    Tensor r = full({2}, double(rank)), c = full({2}, double(rank));
    row->all_reduce(r)->wait();
    col->all_reduce(c)->wait();
    EXPECT_EQ(values(r), std::vector<double>(2, rank < 2 ? 1.0 : 5.0));
    EXPECT_EQ(values(c), std::vector<double>(2, rank % 2 == 0 ? 2.0 : 4.0));
    // The parent still works after its splits.
    Tensor all = full({1}, 1.0);
    comm.all_reduce(all)->wait();
    EXPECT_EQ(values(all), std::vector<double>{4.0});
  });
}

TEST(GlooCommunicator, SplitOrdersByKeyThenRankAndNegativeColorJoinsNothing) {
  run_gloo(5, [](Communicator& comm, int rank) {
    // Ranks 0..3 in one group ordered by descending rank; rank 4 stays out.
    auto group = comm.split(rank == 4 ? -1 : 0, -rank);
    if (rank == 4) {
      EXPECT_EQ(group, nullptr);
      return;
    }
    ASSERT_TRUE(group);
    EXPECT_EQ(group->global_ranks(), std::vector<int>({3, 2, 1, 0}));
    EXPECT_EQ(group->rank(), 3 - rank);
    Tensor out = zeros({4});
    group->all_gather(out, full({1}, double(rank)))->wait();
    EXPECT_EQ(values(out), std::vector<double>({3, 2, 1, 0}));
  });
}

TEST(GlooCommunicator, SplitIntoThreeSingletons) {
  run_gloo(3, [](Communicator& comm, int rank) {
    auto self = comm.split(rank, 0);
    ASSERT_TRUE(self);
    EXPECT_EQ(self->size(), 1);
    EXPECT_EQ(self->global_ranks(), std::vector<int>({rank}));
    Tensor t = full({3}, rank + 1.0);
    self->all_reduce(t)->wait();
    EXPECT_EQ(values(t), std::vector<double>(3, rank + 1.0));
    Tensor out = zeros({3});
    self->reduce_scatter(out, t)->wait();
    self->barrier()->wait();
  });
}

TEST(GlooCommunicator, ARankThatNeverCallsTimesOutNamingCollectiveAndGroup) {
  std::latch others_done(2);
  run_gloo(3, [&](Communicator& comm, int rank) {
    if (rank == 2) {  // never calls; stays alive until the others have timed out
      others_done.wait();
      return;
    }
    Tensor t = full({4}, 1.0);
    const auto start = std::chrono::steady_clock::now();
    const std::string message =
        error_of<CommTimeoutError>([&] { comm.all_reduce(t, {.timeout = 300ms})->wait(); });
    EXPECT_LT(seconds_since(start), 2.0);
    EXPECT_THAT(message, HasSubstr("all_reduce timed out after 300 ms"));
    EXPECT_THAT(message, HasSubstr("group [0, 1, 2]"));
    others_done.count_down();
  });
}

TEST(GlooCommunicator, RecvWithoutASenderTimesOut) {
  std::latch timed_out(1);
  run_gloo(2, [&](Communicator& comm, int rank) {
    if (rank == 1) {
      Tensor t = zeros({2});
      const std::string message = error_of<CommTimeoutError>(
          [&] { comm.recv(t, 0, {.tag = 9, .timeout = 200ms})->wait(); });
      EXPECT_THAT(message, HasSubstr("recv from rank 0 (tag 9) timed out after 200 ms"));
      EXPECT_THAT(message, HasSubstr("group [0, 1]"));
      timed_out.count_down();
    }
    // Gloo closes a context's connections after a timeout: rank 0 only waits, it calls nothing.
    timed_out.wait();
  });
}

TEST(GlooCommunicator, APeerThatDiesFailsTheOthersWithinTheTimeout) {
  auto store = std::make_shared<HashStore>(2000ms);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      auto comm = gloo::make_gloo_world(store, r, 3, {.timeout = 2000ms});
      comm->barrier()->wait();
      if (r == 1) {
        comm.reset();  // rank 1 dies: its connections close
        return;
      }
      std::this_thread::sleep_for(50ms);
      Tensor t = full({1000}, 1.0);
      const auto start = std::chrono::steady_clock::now();
      const std::string message = error_of<CommError>([&] { comm->all_reduce(t)->wait(); });
      EXPECT_THAT(message, HasSubstr("all_reduce"));
      EXPECT_THAT(message, HasSubstr("group [0, 1, 2]"));
      EXPECT_LT(seconds_since(start), 3.0);
    });
  }
  for (auto& t : threads) t.join();
}

TEST(GlooCommunicator, ARankMissingAtRendezvousTimesOut) {
  auto store = std::make_shared<HashStore>(300ms);
  const auto start = std::chrono::steady_clock::now();
  const std::string message =
      error_of<CommTimeoutError>([&] { gloo::make_gloo_world(store, 0, 2, {.timeout = 300ms}); });
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_THAT(message, HasSubstr("connecting the Gloo full mesh timed out"));
  EXPECT_THAT(message, HasSubstr("group [0, 1]"));
}

TEST(GlooCommunicator, AnUnknownHostNameIsACommError) {
  const std::string message = error_of<CommError>([] {
    gloo::make_gloo_world(std::make_shared<HashStore>(), 0, 1,
                          {.hostname = "no-such-host.invalid"});
  });
  EXPECT_THAT(message, HasSubstr("no-such-host.invalid"));
}

TEST(GlooCommunicator, BadArgumentsAreRejectedBeforeTheWire) {
  run_gloo(2, [](Communicator& comm, int rank) {
    Tensor out = zeros({3});
    EXPECT_THROW(comm.all_gather(out, zeros({2})), std::invalid_argument);
    EXPECT_THROW(comm.send(zeros({1}), rank), std::invalid_argument);
    comm.barrier()->wait();
  });
  EXPECT_THROW(gloo::make_gloo_world(std::make_shared<HashStore>(), 2, 2), std::invalid_argument);
}

// The same calls as tests/sim/test_comm_debug_mode.cpp, on both backends: identical records.
std::vector<CollectiveRecord> issue_every_collective(Communicator& comm, int rank) {
  CommDebugMode mode;
  Tensor f10 = zeros({10});
  comm.all_reduce(f10, {.op = ReduceOp::Max})->wait();
  Tensor gathered = zeros({12}, DType::Float64);
  comm.all_gather(gathered, zeros({3}, DType::Float64))->wait();
  Tensor rs = zeros({2});
  comm.reduce_scatter(rs, zeros({8}))->wait();
  Tensor a2a = zeros({8}, DType::Int64);
  comm.all_to_all(a2a, zeros({8}, DType::Int64))->wait();
  comm.broadcast(f10)->wait();
  Tensor sc = zeros({5});
  comm.scatter(sc, rank == 0 ? zeros({20}) : Tensor())->wait();
  comm.all_reduce(f10, {.op = ReduceOp::Avg})->wait();
  comm.barrier()->wait();
  if (rank == 0) comm.send(zeros({6}), 1)->wait();
  if (rank == 1) {
    Tensor got = zeros({6});
    comm.recv(got, 0)->wait();
  }
  auto half = comm.split(rank % 2, rank);
  half->all_reduce(f10)->wait();
  return mode.records();
}

TEST(GlooCommunicator, CommDebugModeRecordsEqualTheSims) {
  auto sim = sim::run(4, [](int rank) { return issue_every_collective(current_world(), rank); });
  std::vector<std::vector<CollectiveRecord>> gloo(4);
  run_gloo(4,
           [&](Communicator& comm, int rank) { gloo[rank] = issue_every_collective(comm, rank); });
  for (int r = 0; r < 4; ++r) {
    ASSERT_EQ(gloo[r].size(), sim[r].size()) << "rank " << r;
    for (std::size_t i = 0; i < sim[r].size(); ++i) {
      EXPECT_EQ(gloo[r][i].kind, sim[r][i].kind) << "rank " << r << " record " << i;
      EXPECT_EQ(gloo[r][i].bytes, sim[r][i].bytes) << "rank " << r << " record " << i;
      EXPECT_EQ(gloo[r][i].group, sim[r][i].group) << "rank " << r << " record " << i;
      EXPECT_EQ(gloo[r][i].op, sim[r][i].op) << "rank " << r << " record " << i;
    }
  }
}

}  // namespace
}  // namespace tensorpar
