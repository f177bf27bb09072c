// Every collective of the sim backend against closed-form expected values, for every reduce op,
// dtype and awkward world size, on both the small (staged) and large (zero-copy) paths.
#include <atomic>
#include <thread>

#include "sim_testing.h"

namespace tensorpar {
namespace {

using sim_testing::expected;
using sim_testing::make;
using sim_testing::values;

// Per-rank element counts: empty, one element, staged (small) and zero-copy (large) messages,
// odd enough that blocks never divide evenly.
const std::int64_t kCounts[] = {0, 1, 13, 5000, 20011};

struct Case {
  int world;
  DType dtype;
};

class Collectives : public ::testing::TestWithParam<Case> {
 protected:
  int world() const { return GetParam().world; }
  DType dtype() const { return GetParam().dtype; }
};

// Rank r holds (r + 1) * (i + 1); the closed forms of every reduction over W ranks.
double reduce_closed_form(ReduceOp op, int w, DType dtype, std::int64_t i) {
  const double x = static_cast<double>(i + 1);
  const double sum = w * (w + 1) / 2.0 * x;
  switch (op) {
    case ReduceOp::Sum:
      return sum;
    case ReduceOp::Avg:
      if (dtype == DType::Int64) {
        return static_cast<double>(static_cast<std::int64_t>(sum) / w);  // truncates
      }
      return sum / w;
    case ReduceOp::Max:
      return w * x;
    case ReduceOp::Min:
      return x;
    case ReduceOp::Product:
      break;
  }
  return 0;
}

// For Product, small factors keep every value exact: rank r holds (r % 3 + 1) * (i % 2 + 1).
double product_input(int r, std::int64_t i) { return (r % 3 + 1) * (i % 2 + 1.0); }
double product_closed_form(int w, std::int64_t i) {
  double p = 1;
  for (int r = 0; r < w; ++r) p *= product_input(r, i);
  return p;
}

TEST_P(Collectives, AllReduceEveryOp) {
  const int w = world();
  const DType dt = dtype();
  sim::run(w, [&](int rank) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min}) {
      for (std::int64_t n : kCounts) {
        Tensor t = make(n, dt, [&](std::int64_t i) { return (rank + 1.0) * (i + 1); });
        current_world().all_reduce(t, {.op = op})->wait();
        EXPECT_EQ(values(t),
                  expected(n, [&](std::int64_t i) { return reduce_closed_form(op, w, dt, i); }))
            << reduce_op_name(op) << " of " << n << " elements, rank " << rank;
      }
    }
    for (std::int64_t n : kCounts) {
      Tensor t = make(n, dt, [&](std::int64_t i) { return product_input(rank, i); });
      current_world().all_reduce(t, {.op = ReduceOp::Product})->wait();
      EXPECT_EQ(values(t), expected(n, [&](std::int64_t i) { return product_closed_form(w, i); }))
          << "product of " << n << " elements, rank " << rank;
    }
  });
}

TEST_P(Collectives, AllGatherConcatenatesInRankOrder) {
  const int w = world();
  sim::run(w, [&](int rank) {
    for (std::int64_t n : kCounts) {
      Tensor in = make(n, dtype(), [&](std::int64_t i) { return rank * n + i; });
      Tensor out = Tensor::empty({w * n}, dtype());
      current_world().all_gather(out, in)->wait();
      EXPECT_EQ(values(out), expected(w * n, [](std::int64_t k) { return double(k); }))
          << n << " elements per rank, rank " << rank;
    }
  });
}

TEST_P(Collectives, ReduceScatterEveryOp) {
  const int w = world();
  const DType dt = dtype();
  sim::run(w, [&](int rank) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min}) {
      for (std::int64_t n : kCounts) {
        Tensor in = make(w * n, dt, [&](std::int64_t k) { return (rank + 1.0) * (k + 1); });
        Tensor out = Tensor::empty({n}, dt);
        current_world().reduce_scatter(out, in, {.op = op})->wait();
        EXPECT_EQ(values(out), expected(n,
                                        [&](std::int64_t i) {
                                          return reduce_closed_form(op, w, dt, rank * n + i);
                                        }))
            << reduce_op_name(op) << " of " << n << " elements, rank " << rank;
      }
    }
    for (std::int64_t n : kCounts) {
      Tensor in = make(w * n, dt, [&](std::int64_t k) { return product_input(rank, k); });
      Tensor out = Tensor::empty({n}, dt);
      current_world().reduce_scatter(out, in, {.op = ReduceOp::Product})->wait();
      EXPECT_EQ(values(out),
                expected(n, [&](std::int64_t i) { return product_closed_form(w, rank * n + i); }));
    }
  });
}

TEST_P(Collectives, AllToAllTransposesBlocks) {
  const int w = world();
  sim::run(w, [&](int rank) {
    for (std::int64_t n : kCounts) {
      // Block j of rank r's input holds (r * w + j) * n + i; rank r receives block r of each.
      Tensor in = make(w * n, dtype(), [&](std::int64_t k) { return double(rank * w * n + k); });
      Tensor out = Tensor::empty({w * n}, dtype());
      current_world().all_to_all(out, in)->wait();
      EXPECT_EQ(values(out), expected(w * n,
                                      [&](std::int64_t k) {
                                        const std::int64_t j = k / n, i = k % n;
                                        return double((j * w + rank) * n + i);
                                      }))
          << n << " elements per block, rank " << rank;
    }
  });
}

TEST_P(Collectives, BroadcastCopiesTheRootsTensor) {
  const int w = world();
  sim::run(w, [&](int rank) {
    for (int root : {0, w / 2, w - 1}) {
      for (std::int64_t n : kCounts) {
        Tensor t = rank == root ? make(n, dtype(), [&](std::int64_t i) { return i + 7.0 * root; })
                                : make(n, dtype(), [](std::int64_t) { return -1.0; });
        current_world().broadcast(t, {.root = root})->wait();
        EXPECT_EQ(values(t), expected(n, [&](std::int64_t i) { return i + 7.0 * root; }))
            << "root " << root << ", " << n << " elements, rank " << rank;
      }
    }
  });
}

TEST_P(Collectives, ScatterSendsBlockRankOfTheRootsInput) {
  const int w = world();
  sim::run(w, [&](int rank) {
    for (int root : {0, w - 1}) {
      for (std::int64_t n : kCounts) {
        Tensor in = rank == root ? make(w * n, dtype(), [](std::int64_t k) { return double(k); })
                                 : Tensor();  // read on the root only
        Tensor out = Tensor::empty({n}, dtype());
        current_world().scatter(out, in, {.root = root})->wait();
        EXPECT_EQ(values(out), expected(n, [&](std::int64_t i) { return double(rank * n + i); }))
            << "root " << root << ", " << n << " elements, rank " << rank;
      }
    }
  });
}

TEST_P(Collectives, SendRecvAroundARing) {
  const int w = world();
  if (w == 1) GTEST_SKIP() << "no peer to talk to";
  sim::run(w, [&](int rank) {
    Communicator& comm = current_world();
    const int next = (rank + 1) % w, prev = (rank + w - 1) % w;
    for (std::int64_t n : kCounts) {
      comm.send(make(n, dtype(), [&](std::int64_t i) { return rank * 100.0 + i; }), next)->wait();
      Tensor got = Tensor::empty({n}, dtype());
      comm.recv(got, prev)->wait();
      EXPECT_EQ(values(got), expected(n, [&](std::int64_t i) { return prev * 100.0 + i; }));
    }
  });
}

TEST_P(Collectives, BarrierReleasesOnlyWhenEveryRankArrived) {
  const int w = world();
  std::atomic<int> arrived{0};
  sim::run(w, [&](int rank) {
    for (int round = 1; round <= 3; ++round) {
      if (rank == round % w) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      arrived.fetch_add(1);
      current_world().barrier()->wait();
      EXPECT_GE(arrived.load(), round * w);
      current_world().barrier()->wait();
    }
  });
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

TEST(SimCollectives, AllReduceGivesBitIdenticalResultsOnEveryRank) {
  // Inexact float sums: every rank must still combine in the same (rank) order.
  for (std::int64_t n : {7, 30001}) {
    auto results = sim::run(7, [&](int rank) {
      Tensor t =
          make(n, DType::Float32, [&](std::int64_t i) { return 0.1 * (rank + 1) / (i + 3); });
      current_world().all_reduce(t)->wait();
      return t;
    });
    for (const Tensor& t : results) EXPECT_TRUE(equal(t, results[0])) << n << " elements";
  }
}

TEST(SimCollectives, BFloat16ReducesThroughFloat) {
  sim::run(4, [](int rank) {
    for (std::int64_t n : {3, 40000}) {
      Tensor t = make(n, DType::BFloat16, [&](std::int64_t i) { return rank + 1.0 + (i % 4); });
      current_world().all_reduce(t)->wait();
      EXPECT_EQ(values(t), expected(n, [](std::int64_t i) { return 10.0 + 4 * (i % 4); }));
      Tensor a = make(n, DType::BFloat16, [&](std::int64_t) { return rank + 1.0; });
      current_world().all_reduce(a, {.op = ReduceOp::Avg})->wait();
      EXPECT_EQ(values(a), expected(n, [](std::int64_t) { return 2.5; }));
      Tensor g = Tensor::empty({4 * n}, DType::BFloat16);
      current_world()
          .all_gather(g, make(n, DType::BFloat16, [&](std::int64_t) { return rank; }))
          ->wait();
      EXPECT_EQ(values(g), expected(4 * n, [&](std::int64_t k) { return double(k / n); }));
    }
  });
}

TEST(SimCollectives, InPlaceAllGatherAndReduceScatter) {
  const int w = 5;
  sim::run(w, [&](int rank) {
    for (std::int64_t n : {3, 9000}) {
      // all_gather whose input is this rank's block of the output.
      Tensor out = make(w * n, DType::Float64,
                        [&](std::int64_t k) { return k / n == rank ? double(k) : -1.0; });
      Tensor mine = out.narrow(0, rank * n, n);
      ASSERT_TRUE(mine.shares_storage_with(out));
      current_world().all_gather(out, mine)->wait();
      EXPECT_EQ(values(out), expected(w * n, [](std::int64_t k) { return double(k); }));
      // reduce_scatter whose output is this rank's block of the input.
      Tensor in = make(w * n, DType::Float64, [&](std::int64_t k) { return (rank + 1.0) * k; });
      Tensor block = in.narrow(0, rank * n, n);
      current_world().reduce_scatter(block, in)->wait();
      EXPECT_EQ(values(block), expected(n, [&](std::int64_t i) { return 15.0 * (rank * n + i); }));
    }
  });
}

TEST(SimCollectives, ManyAlternatingCallsKeepTheirData) {
  // Staged and zero-copy calls interleave while ranks drift apart: exercises double buffering.
  const int w = 6;
  sim::run(w, [&](int rank) {
    Communicator& comm = current_world();
    for (int round = 0; round < 150; ++round) {
      if ((round + rank) % 17 == 0) std::this_thread::yield();
      const std::int64_t n = round % 3 == 0 ? 10000 : 1 + round % 11;
      Tensor t = make(n, DType::Int64, [&](std::int64_t i) { return round + rank + i; });
      comm.all_reduce(t)->wait();
      EXPECT_EQ(values(t),
                expected(n, [&](std::int64_t i) { return w * (round + i) + w * (w - 1) / 2.0; }));
      Tensor g = Tensor::empty({w * 2}, DType::Int64);
      comm.all_gather(
              g, make(2, DType::Int64, [&](std::int64_t i) { return round * 100 + rank * 2 + i; }))
          ->wait();
      EXPECT_EQ(values(g), expected(w * 2, [&](std::int64_t k) { return round * 100.0 + k; }));
    }
  });
}

TEST(SimCollectives, SixtyFourRanks) {
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
