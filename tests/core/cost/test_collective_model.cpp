// The collective model: nccl-tests' busbw factors, where a group's ranks sit, the alpha-beta time
// of ring, tree and NVLS with each protocol on hand-computed cases, interpolation in measured
// points, and the comparison with published measurements (reported; bounds only).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/cost/collective_model.h"
#include "support/expect_error.h"

namespace tensorpar::cost {
namespace {

using testing::expect_error;

// Round numbers: 4 GPUs per node, ring base 10 us, tree base 30 us, NVLink hop 2 us, network hop
// 20 us, intra-node busbw 100 GB/s, 4 NICs of 10 GB/s at efficiency 0.5; Simple protocol only.
HardwareProfile plain() {
  HardwareProfile h;
  h.name = "plain";
  h.node.gpus_per_node = 4;
  h.node.nics_per_node = 4;
  h.node.nic_bandwidth = 10e9;
  h.collectives.base_latency_s = {{"ring", 10e-6}, {"tree", 30e-6}};
  h.collectives.nvlink_hop_s = 2e-6;
  h.collectives.network_hop_s = 20e-6;
  h.collectives.intra_node_busbw = 100e9;
  h.collectives.inter_node_efficiency = 0.5;
  return h;
}

std::vector<int> iota(int n, int first = 0) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(CollectiveModelFactors, AreNcclTests) {
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveKind::AllReduce, 8), 1.75);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveKind::AllReduce, 3), 4.0 / 3);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveKind::AllGather, 5), 0.8);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveKind::ReduceScatter, 5), 0.8);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveKind::AllToAll, 4), 0.75);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveKind::Broadcast, 7), 1.0);
}

TEST(CollectiveModelGroups, PlaceRanksOnNodesInBlocks) {
  GroupShape one = group_shape(iota(8), 8);
  EXPECT_EQ(one.ranks, 8);
  EXPECT_EQ(one.nodes, 1);
  EXPECT_EQ(one.ranks_per_node, 8);
  GroupShape dp = group_shape({1, 9, 17}, 8);  // a data-parallel group: one rank per node
  EXPECT_EQ(dp.ranks, 3);
  EXPECT_EQ(dp.nodes, 3);
  EXPECT_EQ(dp.ranks_per_node, 1);
  GroupShape straddle = group_shape({5, 6, 7, 8, 9}, 8);  // 3 ranks on node 0, 2 on node 1
  EXPECT_EQ(straddle.nodes, 2);
  EXPECT_EQ(straddle.ranks_per_node, 3);
  expect_error<std::invalid_argument>([] { group_shape({0}, 0); },
                                      "gpus_per_node must be >= 1, got 0");
}

TEST(CollectiveModel, OneRankCostsNothing) {
  CollectiveEstimate e =
      collective_time(CollectiveKind::AllReduce, 1 << 20, group_shape({3}, 4), plain());
  EXPECT_EQ(e.seconds, 0);
  EXPECT_EQ(e.algorithm, "none");
}

TEST(CollectiveModel, RingInsideANode) {
  // all_reduce over 3 ranks of 300 MB: 10 us + 4 hops x 2 us + 300e6 x 4/3 / 100e9 = 4.018 ms;
  // the implied busbw is a little under 100 GB/s.
  CollectiveEstimate e =
      collective_time(CollectiveKind::AllReduce, 300'000'000, group_shape(iota(3), 4), plain());
  EXPECT_EQ(e.algorithm, "ring");
  EXPECT_NEAR(e.seconds, 18e-6 + 4e-3, 1e-12);
  EXPECT_NEAR(e.busbw, 300e6 * 4 / 3 / e.seconds, 1);
}

TEST(CollectiveModel, RingAcrossNodesRunsAtTheNicsRate) {
  // all_gather over ranks 0-4 (4 on node 0, 1 on node 1) of 1 MB: 4 steps, 1 across nodes;
  // busbw min(100, 4 NICs x 10 GB/s x 0.5 = 20) GB/s: 10 + 3 x 2 + 20 us + 1e6 x 0.8 / 20e9.
  CollectiveEstimate e =
      collective_time(CollectiveKind::AllGather, 1'000'000, group_shape(iota(5), 4), plain());
  EXPECT_EQ(e.algorithm, "ring");
  EXPECT_NEAR(e.seconds, 36e-6 + 40e-6, 1e-12);
}

TEST(CollectiveModel, OneRankPerNodeUsesOneNic) {
  // all_reduce over {0, 4, 8} (one rank on each of 3 nodes), 10 MB: 4 steps, all across nodes;
  // busbw 1 NIC x 10 GB/s x 0.5 = 5 GB/s: 10 + 4 x 20 us + 10e6 x 4/3 / 5e9 = 2.7567 ms. The
  // tree (30 + 2 x (2 x 20 + 0) = 110 us) is slower than the ring's 90 us of latency.
  CollectiveEstimate e =
      collective_time(CollectiveKind::AllReduce, 10'000'000, group_shape({0, 4, 8}, 4), plain());
  EXPECT_EQ(e.algorithm, "ring");
  EXPECT_NEAR(e.seconds, 90e-6 + 10e6 * 4 / 3 / 5e9, 1e-12);
}

TEST(CollectiveModel, TreeWinsAcrossManyNodes) {
  // all_reduce over 16 ranks on 4 nodes, 8 bytes: ring 10 + 22 x 2 + 8 x 20 = 214 us; tree
  // 30 + 2 x (2 x 20 + 3 x 2) = 122 us (+ the same wire time, 8 x 15/8 / 20e9).
  CollectiveEstimate e =
      collective_time(CollectiveKind::AllReduce, 8, group_shape(iota(16), 4), plain());
  EXPECT_EQ(e.algorithm, "tree");
  EXPECT_NEAR(e.seconds, 122e-6 + 8 * 1.875 / 20e9, 1e-12);
}

TEST(CollectiveModel, LowLatencyProtocolTakesSmallMessages) {
  HardwareProfile h = plain();
  h.collectives.protocols = {{"ll", {{"ring", 5e-6}}, 0.5e-6, 3e-6, 0.25}};
  // 3 ranks, 1 KB: Simple 18 us + 1e3 x 4/3 / 100e9; LL 5 + 4 x 0.5 = 7 us + 1e3 x 4/3 / 25e9.
  CollectiveEstimate small =
      collective_time(CollectiveKind::AllReduce, 1000, group_shape(iota(3), 4), h);
  EXPECT_EQ(small.algorithm, "ring");
  EXPECT_NEAR(small.seconds, 7e-6 + 1000 * 4.0 / 3 / 25e9, 1e-15);
  // 300 MB: LL's quarter bandwidth loses; Simple as without protocols.
  CollectiveEstimate large =
      collective_time(CollectiveKind::AllReduce, 300'000'000, group_shape(iota(3), 4), h);
  EXPECT_NEAR(large.seconds, 18e-6 + 4e-3, 1e-12);
}

TEST(CollectiveModel, NvlsTakesLargeAllReducesInsideANode) {
  HardwareProfile h = plain();
  h.node.gpus_per_node = 8;
  h.collectives.base_latency_s["nvls"] = 20e-6;
  h.collectives.nvls_busbw = 200e9;
  // 8 ranks, 1 GB: ring 10 + 14 x 2 = 38 us + 1e9 x 1.75 / 100e9 = 17.538 ms; NVLS 20 us +
  // 8.75 ms. all_gather has no NVLS here: ring 10 + 7 x 2 us + 1e9 x 7/8 / 100e9.
  EXPECT_EQ(collective_time(CollectiveKind::AllReduce, 1'000'000'000, group_shape(iota(8), 8), h)
                .algorithm,
            "nvls");
  EXPECT_NEAR(
      collective_time(CollectiveKind::AllReduce, 1'000'000'000, group_shape(iota(8), 8), h).seconds,
      20e-6 + 8.75e-3, 1e-12);
  CollectiveEstimate ag =
      collective_time(CollectiveKind::AllGather, 1'000'000'000, group_shape(iota(8), 8), h);
  EXPECT_EQ(ag.algorithm, "ring");
  EXPECT_NEAR(ag.seconds, 24e-6 + 8.75e-3, 1e-12);
  // Across nodes there is no NVLS: 16 ranks on 2 nodes take the ring or the tree.
  EXPECT_NE(collective_time(CollectiveKind::AllReduce, 1'000'000'000, group_shape(iota(16), 8), h)
                .algorithm,
            "nvls");
}

TEST(CollectiveModel, PointToPointIsOneHop) {
  // send of 1 MB to a rank on the same node: 10 + 2 us + 1e6 / 100e9.
  CollectiveEstimate e =
      collective_time(CollectiveKind::Send, 1'000'000, group_shape({0, 1}, 4), plain());
  EXPECT_NEAR(e.seconds, 12e-6 + 10e-6, 1e-12);
}

TEST(CollectiveModel, AGroupAcrossNodesNeedsANetwork) {
  HardwareProfile h = plain();
  h.node.nic_bandwidth = 0;
  expect_error<std::invalid_argument>(
      [&] { collective_time(CollectiveKind::AllReduce, 8, group_shape(iota(8), 4), h); },
      "hardware 'plain' has no network (nics_per_node 4, nic_gbs 0");
}

TEST(CollectiveModelMeasured, InterpolatesLogLogAtTheNearestWorldSize) {
  HardwareProfile h = plain();
  h.collectives.measured = {{CollectiveKind::AllReduce, 2, 1000, 10e-6},
                            {CollectiveKind::AllReduce, 2, 100000, 1000e-6},
                            {CollectiveKind::AllReduce, 4, 1000, 20e-6},
                            {CollectiveKind::AllReduce, 4, 100000, 40e-6},
                            {CollectiveKind::AllReduce, 4, 10000000, 2040e-6}};
  auto at = [&](std::int64_t bytes, int ranks) {
    CollectiveEstimate e =
        collective_time(CollectiveKind::AllReduce, bytes, group_shape(iota(ranks), 4), h);
    EXPECT_EQ(e.algorithm, "measured");
    return e.seconds;
  };
  EXPECT_NEAR(at(10000, 2), 100e-6, 1e-12);  // half way in log: sqrt(10 x 1000) us
  EXPECT_NEAR(at(10000, 4), std::sqrt(20.0 * 40) * 1e-6, 1e-12);
  EXPECT_NEAR(at(10000, 3), std::sqrt(20.0 * 40) * 1e-6, 1e-12);  // 3: as near 2 as 4, take 4
  EXPECT_NEAR(at(10000, 7), std::sqrt(20.0 * 40) * 1e-6, 1e-12);
  EXPECT_NEAR(at(10, 2), 10e-6, 1e-15);  // below the smallest point: its time
  // Beyond the largest: the last segment's rate, (1e7 - 1e5) B / 2000 us = 4.95 GB/s.
  EXPECT_NEAR(at(20000000, 4), 2040e-6 + 1e7 / 4.95e9, 1e-12);
  // Other kinds keep the formula.
  EXPECT_EQ(collective_time(CollectiveKind::AllGather, 1000, group_shape(iota(2), 4), h).algorithm,
            "ring");
}

// nccl-tests' all_reduce sweep on 8x H200 in one node (NCCL 2.30, busbw GB/s;
// stas00/ml-engineering, network/benchmarks, in the cost-model facts): the model's busbw against
// it, every point within 2x; the mean absolute percentage error is printed.
TEST(CollectiveModelPublished, H200AllReduceSweep) {
  const HardwareProfile h = load_hardware("h200-sxm");
  const std::vector<std::pair<std::int64_t, double>> sweep = {
      {32ll << 10, 3.2},  {256ll << 10, 24.6}, {1ll << 20, 72.5},
      {4ll << 20, 140},   {16ll << 20, 242},   {64ll << 20, 370},
      {256ll << 20, 442}, {1ll << 30, 464},    {16ll << 30, 481}};
  double total_error = 0;
  std::printf("%12s %10s %10s %10s %7s\n", "bytes", "algorithm", "model", "measured", "error");
  for (const auto& [bytes, measured] : sweep) {
    CollectiveEstimate e =
        collective_time(CollectiveKind::AllReduce, bytes, group_shape(iota(8), 8), h);
    const double model = e.busbw / 1e9, error = model / measured - 1;
    total_error += std::abs(error);
    std::printf("%12lld %10s %10.1f %10.1f %+6.0f%%\n", (long long)bytes, e.algorithm.c_str(),
                model, measured, error * 100);
    EXPECT_GT(model, measured / 2) << bytes;
    EXPECT_LT(model, measured * 2) << bytes;
  }
  std::printf("H200 all_reduce busbw: mean absolute error %.1f%% over %zu sizes\n",
              100 * total_error / sweep.size(), sweep.size());
}

// A100 ring all_reduce of 8-128 bytes (nccl-tests#123): 10 us at n = 2, 16.9 at 4, 33.7 at 8,
// about 2.1 us per step. The model takes NCCL's LL constants (6.6 us + 0.6 us per NVLink step),
// which underestimate those measurements by up to 2.25x at n = 8 (the measured steps cost 2.1 us,
// not 0.6); bounded at 2.5x, the error printed.
TEST(CollectiveModelPublished, A100SmallMessageLatency) {
  const HardwareProfile h = load_hardware("a100-sxm4-80gb");
  for (const auto& [ranks, measured_us] :
       std::vector<std::pair<int, double>>{{2, 10}, {4, 16.9}, {8, 33.7}}) {
    CollectiveEstimate e =
        collective_time(CollectiveKind::AllReduce, 64, group_shape(iota(ranks), 8), h);
    const double model_us = e.seconds * 1e6;
    std::printf("A100 all_reduce 64 B, n = %d: model %.1f us (%s), measured %.1f us, %+.0f%%\n",
                ranks, model_us, e.algorithm.c_str(), measured_us,
                (model_us / measured_us - 1) * 100);
    EXPECT_GT(model_us, measured_us / 2.5);
    EXPECT_LT(model_us, measured_us * 2.5);
  }
}

}  // namespace
}  // namespace tensorpar::cost
