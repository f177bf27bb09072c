#pragma once
// The bodies of the collective tests, run by every rank of the current world against closed-form
// expected values and exact CommDebugMode counts and bytes: on the simulated backend
// (test_collectives.cpp, rank threads) and as a job of gloo processes
// (test_collectives_processes.cpp). Each takes the calling rank (and the dtype where it matters);
// the world size is current_world().size().
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "sim_testing.h"

namespace tensorpar::collectives_cases {

using sim_testing::expected;
using sim_testing::make;
using sim_testing::values;

// Per-rank element counts: empty, one element, staged (small) and zero-copy (large) messages,
// odd enough that blocks never divide evenly.
inline constexpr std::int64_t kCounts[] = {0, 1, 13, 5000, 20011};
inline constexpr std::int64_t kCountsTotal = 0 + 1 + 13 + 5000 + 20011;

inline std::int64_t itemsize(DType dtype) { return static_cast<std::int64_t>(dtype_size(dtype)); }

// The calls (by name) and bytes a body issued, as CommDebugMode recorded them.
inline void expect_recorded(const CommDebugMode& mode,
                            const std::map<std::string, std::int64_t>& counts,
                            std::int64_t total_bytes, int rank) {
  EXPECT_EQ(mode.counts_by_name(), counts) << "rank " << rank;
  EXPECT_EQ(mode.total_bytes(), total_bytes) << "rank " << rank;
}

// Rank r holds (r + 1) * (i + 1); the closed forms of every reduction over W ranks.
inline double reduce_closed_form(ReduceOp op, int w, DType dtype, std::int64_t i) {
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
inline double product_input(int r, std::int64_t i) { return (r % 3 + 1) * (i % 2 + 1.0); }
inline double product_closed_form(int w, std::int64_t i) {
  double p = 1;
  for (int r = 0; r < w; ++r) p *= product_input(r, i);
  return p;
}

inline void all_reduce_every_op(int rank, DType dt) {
  const int w = current_world().size();
  CommDebugMode mode;
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
  expect_recorded(mode, {{"all_reduce", 25}}, 5 * kCountsTotal * itemsize(dt), rank);
}

inline void all_gather_concatenates_in_rank_order(int rank, DType dt) {
  const int w = current_world().size();
  CommDebugMode mode;
  for (std::int64_t n : kCounts) {
    Tensor in = make(n, dt, [&](std::int64_t i) { return rank * n + i; });
    Tensor out = Tensor::empty({w * n}, dt);
    current_world().all_gather(out, in)->wait();
    EXPECT_EQ(values(out), expected(w * n, [](std::int64_t k) { return double(k); }))
        << n << " elements per rank, rank " << rank;
  }
  expect_recorded(mode, {{"all_gather", 5}}, w * kCountsTotal * itemsize(dt), rank);
}

inline void reduce_scatter_every_op(int rank, DType dt) {
  const int w = current_world().size();
  CommDebugMode mode;
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
              expected(n, [&](std::int64_t i) { return product_closed_form(w, rank * n + i); }))
        << "product of " << n << " elements, rank " << rank;
  }
  expect_recorded(mode, {{"reduce_scatter", 25}}, 5 * w * kCountsTotal * itemsize(dt), rank);
}

inline void all_to_all_transposes_blocks(int rank, DType dt) {
  const int w = current_world().size();
  CommDebugMode mode;
  for (std::int64_t n : kCounts) {
    // Block j of rank r's input holds (r * w + j) * n + i; rank r receives block r of each.
    Tensor in = make(w * n, dt, [&](std::int64_t k) { return double(rank * w * n + k); });
    Tensor out = Tensor::empty({w * n}, dt);
    current_world().all_to_all(out, in)->wait();
    EXPECT_EQ(values(out), expected(w * n,
                                    [&](std::int64_t k) {
                                      const std::int64_t j = k / n, i = k % n;
                                      return double((j * w + rank) * n + i);
                                    }))
        << n << " elements per block, rank " << rank;
  }
  expect_recorded(mode, {{"all_to_all", 5}}, w * kCountsTotal * itemsize(dt), rank);
}

inline void broadcast_copies_the_roots_tensor(int rank, DType dt) {
  const int w = current_world().size();
  CommDebugMode mode;
  for (int root : {0, w / 2, w - 1}) {
    for (std::int64_t n : kCounts) {
      Tensor t = rank == root ? make(n, dt, [&](std::int64_t i) { return i + 7.0 * root; })
                              : make(n, dt, [](std::int64_t) { return -1.0; });
      current_world().broadcast(t, {.root = root})->wait();
      EXPECT_EQ(values(t), expected(n, [&](std::int64_t i) { return i + 7.0 * root; }))
          << "root " << root << ", " << n << " elements, rank " << rank;
    }
  }
  expect_recorded(mode, {{"broadcast", 15}}, 3 * kCountsTotal * itemsize(dt), rank);
}

inline void scatter_sends_block_rank_of_the_roots_input(int rank, DType dt) {
  const int w = current_world().size();
  CommDebugMode mode;
  for (int root : {0, w - 1}) {
    for (std::int64_t n : kCounts) {
      Tensor in = rank == root ? make(w * n, dt, [](std::int64_t k) { return double(k); })
                               : Tensor();  // read on the root only
      Tensor out = Tensor::empty({n}, dt);
      current_world().scatter(out, in, {.root = root})->wait();
      EXPECT_EQ(values(out), expected(n, [&](std::int64_t i) { return double(rank * n + i); }))
          << "root " << root << ", " << n << " elements, rank " << rank;
    }
  }
  expect_recorded(mode, {{"scatter", 10}}, 2 * w * kCountsTotal * itemsize(dt), rank);
}

// Needs a world of at least 2 ranks. Each rank waits for its send after its recv: a send may
// complete only once the peer receives (Gloo's do), so send-wait-recv around a ring would hang.
inline void send_recv_around_a_ring(int rank, DType dt) {
  const int w = current_world().size();
  Communicator& comm = current_world();
  const int next = (rank + 1) % w, prev = (rank + w - 1) % w;
  CommDebugMode mode;
  for (std::int64_t n : kCounts) {
    WorkPtr sent = comm.send(make(n, dt, [&](std::int64_t i) { return rank * 100.0 + i; }), next);
    Tensor got = Tensor::empty({n}, dt);
    comm.recv(got, prev)->wait();
    sent->wait();
    EXPECT_EQ(values(got), expected(n, [&](std::int64_t i) { return prev * 100.0 + i; }))
        << n << " elements from rank " << prev << " to rank " << rank;
  }
  expect_recorded(mode, {{"send", 5}, {"recv", 5}}, 2 * kCountsTotal * itemsize(dt), rank);
}

// Each round one rank arrives late; no rank may leave the barrier before the last one arrived.
// The times are steady_clock's (CLOCK_MONOTONIC, one clock for every process of the machine),
// exchanged with an all_gather, so the check holds for rank threads and for processes alike.
inline void barrier_releases_only_when_every_rank_arrived(int rank) {
  const int w = current_world().size();
  const auto now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  CommDebugMode mode;
  for (int round = 1; round <= 3; ++round) {
    if (rank == round % w) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::int64_t arrived = now_us();
    current_world().barrier()->wait();
    const std::int64_t left = now_us();
    Tensor times = Tensor::empty({2 * w}, DType::Int64);
    current_world()
        .all_gather(times, from_vector<std::int64_t>({arrived, left}, {2}))
        ->wait();
    const std::vector<std::int64_t> t = to_vector<std::int64_t>(times);
    std::int64_t last_arrival = t[0], first_departure = t[1];
    for (int r = 0; r < w; ++r) {
      last_arrival = std::max(last_arrival, t[static_cast<std::size_t>(2 * r)]);
      first_departure = std::min(first_departure, t[static_cast<std::size_t>(2 * r + 1)]);
    }
    EXPECT_GE(first_departure, last_arrival) << "round " << round << ", rank " << rank;
    current_world().barrier()->wait();
  }
  expect_recorded(mode, {{"barrier", 6}, {"all_gather", 3}}, 3 * 2 * w * 8, rank);
}

// split() and subgroup() at any world size: order by (key, rank), a negative color, nested
// splits, the subgroup cache, and collectives inside each group.
inline void split_into_subgroups(int rank) {
  const int w = current_world().size();
  Communicator& world = current_world();
  const auto sum_of = [](const std::vector<int>& ranks) {
    double s = 0;
    for (int r : ranks) s += r;
    return s;
  };
  // Ranks of equal parity, ordered by descending rank (key -rank).
  auto parity = world.split(rank % 2, -rank);
  ASSERT_NE(parity, nullptr);
  std::vector<int> members;
  for (int r = w - 1; r >= 0; --r) {
    if (r % 2 == rank % 2) members.push_back(r);
  }
  EXPECT_EQ(parity->global_ranks(), members) << "rank " << rank;
  EXPECT_EQ(parity->size(), static_cast<int>(members.size()));
  EXPECT_EQ(parity->rank(), std::find(members.begin(), members.end(), rank) - members.begin());
  EXPECT_EQ(parity->backend(), world.backend());
  // The last rank joins no group (negative color); the others form one.
  auto rest = world.split(w > 1 && rank == w - 1 ? -1 : 3, rank);
  if (w > 1 && rank == w - 1) {
    EXPECT_EQ(rest, nullptr);
  } else {
    ASSERT_NE(rest, nullptr);
    std::vector<int> rest_members;
    for (int r = 0; r < (w > 1 ? w - 1 : 1); ++r) rest_members.push_back(r);
    EXPECT_EQ(rest->global_ranks(), rest_members);
    Tensor t = full({2}, rank, DType::Float64);
    rest->all_reduce(t)->wait();
    EXPECT_EQ(values(t), std::vector<double>(2, sum_of(rest_members))) << "rank " << rank;
  }
  // Nested: each parity group splits into singletons.
  auto single = parity->split(parity->rank(), 0);
  ASSERT_NE(single, nullptr);
  EXPECT_EQ(single->global_ranks(), std::vector<int>({rank}));
  // subgroup(): the two halves of the world, cached by partition.
  const int h = (w + 1) / 2;
  std::vector<std::vector<int>> halves(w > 1 ? 2 : 1);
  for (int r = 0; r < w; ++r) halves[r < h ? 0 : 1].push_back(r);
  auto half = world.subgroup(halves);
  ASSERT_NE(half, nullptr);
  EXPECT_EQ(world.subgroup(halves).get(), half.get());
  const std::vector<int>& mine = halves[rank < h ? 0 : 1];
  EXPECT_EQ(half->global_ranks(), mine);
  {
    CommDebugMode mode;
    Tensor t = full({3}, rank, DType::Int64);
    parity->all_reduce(t)->wait();
    EXPECT_EQ(values(t), std::vector<double>(3, sum_of(members))) << "rank " << rank;
    single->all_reduce(t)->wait();
    EXPECT_EQ(values(t), std::vector<double>(3, sum_of(members))) << "rank " << rank;
    Tensor gathered = Tensor::empty({static_cast<std::int64_t>(mine.size())}, DType::Int64);
    half->all_gather(gathered, full({1}, rank, DType::Int64))->wait();
    EXPECT_EQ(to_vector<std::int64_t>(gathered), std::vector<std::int64_t>(mine.begin(), mine.end()));
    Tensor b = full({4}, rank, DType::Float32);
    half->broadcast(b, {.root = half->size() - 1})->wait();
    EXPECT_EQ(values(b), std::vector<double>(4, mine.back())) << "rank " << rank;
    half->barrier()->wait();
    const auto group_bytes = static_cast<std::int64_t>(mine.size()) * 8;
    expect_recorded(mode, {{"all_reduce", 2}, {"all_gather", 1}, {"broadcast", 1}, {"barrier", 1}},
                    2 * 24 + group_bytes + 16, rank);
    EXPECT_EQ(mode.records()[0].group, members);
    EXPECT_EQ(mode.records()[1].group, std::vector<int>({rank}));
    EXPECT_EQ(mode.records()[2].group, mine);
  }
}

// bfloat16 reduces through float: small integers stay exact however the sum is staged.
inline void bfloat16_reduces_through_float(int rank) {
  const int w = current_world().size();
  for (std::int64_t n : {3, 40000}) {
    Tensor t = make(n, DType::BFloat16, [&](std::int64_t i) { return rank + 1.0 + (i % 4); });
    current_world().all_reduce(t)->wait();
    EXPECT_EQ(values(t),
              expected(n, [&](std::int64_t i) { return w * (w + 1) / 2.0 + w * (i % 4); }));
    Tensor a = make(n, DType::BFloat16, [&](std::int64_t) { return rank + 1.0; });
    current_world().all_reduce(a, {.op = ReduceOp::Avg})->wait();
    EXPECT_EQ(values(a), expected(n, [&](std::int64_t) { return (w + 1) / 2.0; }));
    Tensor g = Tensor::empty({w * n}, DType::BFloat16);
    current_world()
        .all_gather(g, make(n, DType::BFloat16, [&](std::int64_t) { return rank; }))
        ->wait();
    EXPECT_EQ(values(g), expected(w * n, [&](std::int64_t k) { return double(k / n); }));
  }
}

inline void in_place_all_gather_and_reduce_scatter(int rank) {
  const int w = current_world().size();
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
    EXPECT_EQ(values(block),
              expected(n, [&](std::int64_t i) { return w * (w + 1) / 2.0 * (rank * n + i); }));
  }
}

// Small and large calls interleave while ranks drift apart.
inline void many_alternating_calls_keep_their_data(int rank) {
  const int w = current_world().size();
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
}

// Inexact float32 sums come out bit-identical on every rank: each rank all_gathers the results
// and compares every rank's with its own.
inline void all_reduce_gives_bit_identical_results_on_every_rank(int rank) {
  const int w = current_world().size();
  for (std::int64_t n : {7, 30001}) {
    Tensor t = make(n, DType::Float32, [&](std::int64_t i) { return 0.1 * (rank + 1) / (i + 3); });
    current_world().all_reduce(t)->wait();
    Tensor all = Tensor::empty({w * n}, DType::Float32);
    current_world().all_gather(all, t)->wait();
    for (int r = 0; r < w; ++r) {
      EXPECT_TRUE(equal(all.narrow(0, r * n, n), t)) << "rank " << r << " vs rank " << rank;
    }
  }
}

}  // namespace tensorpar::collectives_cases
