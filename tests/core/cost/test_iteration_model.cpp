// One training iteration from a hand-made workload on a hand-made profile whose kernels and
// collectives have round times: a kernel of F FLOPs takes F / 1e12 s (efficiency 1, no launch
// cost, negligible bytes), an all_reduce of S bytes over 2 ranks in one node S / 1e10 s (ring,
// factor 2(n-1)/n = 1, no latency).
#include <gtest/gtest.h>

#include "core/cost/iteration_model.h"

namespace tensorpar::cost {
namespace {

constexpr double kMs = 1e-3;
constexpr std::int64_t kMiB = 1 << 20;

HardwareProfile round_profile() {
  HardwareProfile h;
  h.name = "round";
  h.device.peak_flops = {{"f32", 1e12}, {"bf16", 1e12}};
  h.device.memory_bytes = 80e9;
  h.device.memory_bandwidth = 1e15;
  h.device.gemm_efficiency.points = {{1.0, 1.0}};
  h.device.memory_efficiency.points = {{1.0, 1.0}};
  h.device.kernel_launch_s = 0;
  h.node.gpus_per_node = 8;
  h.node.nvlink_bandwidth = 1e10;
  h.node.nics_per_node = 8;
  h.node.nic_bandwidth = 1e10;
  h.collectives.base_latency_s = {{"ring", 0.0}, {"tree", 0.0}};
  h.collectives.intra_node_busbw = 1e10;
  return h;
}

WorkItem kernel(std::int64_t flops) {
  WorkItem w;
  w.op.kernel = "linear";
  w.op.flops = flops;
  w.op.bytes_read = 4;
  w.op.dtype = DType::Float32;
  return w;
}

WorkItem all_reduce(std::int64_t bytes, std::vector<int> group, CommPhase phase) {
  WorkItem w;
  w.is_collective = true;
  w.collective.kind = CollectiveKind::AllReduce;
  w.collective.bytes = bytes;
  w.collective.group = std::move(group);
  w.collective.phase = phase;
  return w;
}

// Per micro-batch: forward 2 ms of kernels + a 0.1 ms TP all_reduce, backward 4 ms; the
// optimizer 1 ms; gradients of 10, 20 and 30 MiB in registration order.
Workload hand_made() {
  Workload w;
  w.forward = {kernel(2'000'000'000), all_reduce(1'000'000, {0, 1}, CommPhase::Forward)};
  w.backward = {kernel(4'000'000'000)};
  w.optimizer = {kernel(1'000'000'000)};
  w.gradient_bytes = {10 * kMiB, 20 * kMiB, 30 * kMiB};
  return w;
}

IterationOptions dp2(std::int64_t micro_batches, bool overlap) {
  IterationOptions o;
  o.dp = 2;
  o.dp_group = {0, 2};
  o.micro_batches = micro_batches;
  o.overlap_dp = overlap;
  return o;
}

TEST(DpBuckets, FillInReverseRegistrationOrderAndCloseAtTheCap) {
  EXPECT_EQ(dp_buckets({10 * kMiB, 20 * kMiB, 30 * kMiB}, 25 * kMiB),
            (std::vector<std::int64_t>{30 * kMiB, 30 * kMiB}));
  EXPECT_EQ(dp_buckets({1, 2, 3, 4}, 4), (std::vector<std::int64_t>{4, 5, 1}));
  EXPECT_EQ(dp_buckets({5}, 25 * kMiB), (std::vector<std::int64_t>{5}));
  EXPECT_TRUE(dp_buckets({}, 25 * kMiB).empty());
}

TEST(IterationModel, MicroBatchesRepeatForwardAndBackwardWithTpCollectivesExposed) {
  IterationOptions o;
  o.micro_batches = 3;
  const IterationEstimate e = estimate_iteration(hand_made(), o, round_profile());
  EXPECT_DOUBLE_EQ(e.compute_s, 3 * 6 * kMs);
  EXPECT_DOUBLE_EQ(e.tp_comm_s, 3 * 0.1 * kMs);
  EXPECT_DOUBLE_EQ(e.dp_comm_s, 0);
  EXPECT_DOUBLE_EQ(e.optimizer_s, 1 * kMs);
  EXPECT_DOUBLE_EQ(e.total_s(), 19.3 * kMs);
  ASSERT_EQ(e.collective_totals.size(), 1u);
  EXPECT_EQ(e.collective_totals[0].count, 3);
  EXPECT_EQ(e.collective_totals[0].bytes, 3'000'000);
  EXPECT_FALSE(e.collective_totals[0].data_parallel);
}

TEST(IterationModel, OverlappedBucketsHideBehindTheLastBackwardUntilItEnds) {
  // The last backward runs from 2 x 6.1 + 2.1 = 14.3 ms to 18.3 ms. Bucket 0 (30 MiB, half of
  // the bytes) is ready at 16.3 ms and takes 3.145728 ms, to 19.445728; bucket 1 is ready at
  // 18.3 but waits for the stream: 19.445728 to 22.591456. Exposed: 22.591456 - 18.3.
  const IterationEstimate e = estimate_iteration(hand_made(), dp2(3, true), round_profile());
  EXPECT_NEAR(e.dp_comm_s, 4.291456 * kMs, 1e-12);
  EXPECT_EQ(e.dp_buckets, (std::vector<std::int64_t>{30 * kMiB, 30 * kMiB}));
  EXPECT_NEAR(e.total_s(), (19.3 + 4.291456) * kMs, 1e-12);
}

TEST(IterationModel, WithoutOverlapEveryBucketRunsAfterTheBackward) {
  const IterationEstimate e = estimate_iteration(hand_made(), dp2(3, false), round_profile());
  EXPECT_NEAR(e.dp_comm_s, 2 * 3.145728 * kMs, 1e-12);
}

TEST(IterationModel, OverlapHidesAllButTheLastBucketWhenBackwardIsLong) {
  Workload w = hand_made();
  w.backward = {kernel(40'000'000'000)};  // 40 ms: bucket 0 finishes long before the end
  const IterationEstimate e = estimate_iteration(w, dp2(1, true), round_profile());
  EXPECT_NEAR(e.dp_comm_s, 3.145728 * kMs, 1e-12);
}

TEST(IterationModel, DpBucketsAreCountedOncePerStep) {
  const IterationEstimate e = estimate_iteration(hand_made(), dp2(4, true), round_profile());
  std::int64_t tp = 0, dp = 0, dp_bytes = 0;
  for (const auto& t : e.collective_totals) {
    (t.data_parallel ? dp : tp) += t.count;
    if (t.data_parallel) dp_bytes += t.bytes;
  }
  EXPECT_EQ(tp, 4);
  EXPECT_EQ(dp, 2);
  EXPECT_EQ(dp_bytes, 60 * kMiB);
}

TEST(IterationModel, RecomputeRunsBeforeEachBackward) {
  Workload w = hand_made();
  w.recompute = {kernel(2'000'000'000), all_reduce(1'000'000, {0, 1}, CommPhase::Backward)};
  IterationOptions o;
  o.micro_batches = 2;
  const IterationEstimate e = estimate_iteration(w, o, round_profile());
  EXPECT_DOUBLE_EQ(e.compute_s, 2 * 8 * kMs);
  EXPECT_DOUBLE_EQ(e.tp_comm_s, 2 * 0.2 * kMs);
}

TEST(IterationModel, RanksSharingComputeUnitsSlowKernelsNotCollectives) {
  // 4 ranks (dp 2 x the TP group of 2) on 2 shared cores: every kernel takes twice as long.
  HardwareProfile h = round_profile();
  h.device.shared_compute_units = 2;
  IterationOptions o = dp2(1, false);
  const IterationEstimate e = estimate_iteration(hand_made(), o, h);
  EXPECT_DOUBLE_EQ(e.compute_s, 2 * 6 * kMs);
  EXPECT_DOUBLE_EQ(e.optimizer_s, 2 * 1 * kMs);
  EXPECT_DOUBLE_EQ(e.tp_comm_s, 0.1 * kMs);
  // As many units as ranks: no slowdown.
  h.device.shared_compute_units = 4;
  EXPECT_DOUBLE_EQ(estimate_iteration(hand_made(), o, h).compute_s, 6 * kMs);
  o.world_size = 8;  // stated explicitly
  EXPECT_DOUBLE_EQ(estimate_iteration(hand_made(), o, h).compute_s, 2 * 6 * kMs);
}

TEST(IterationModel, TimelinePlacesEveryKernelAndCollectiveOnItsLane) {
  const IterationEstimate e = estimate_iteration(hand_made(), dp2(2, true), round_profile(), true);
  int ops = 0, tp = 0, dp = 0;
  double end = 0;
  for (const TimelineEvent& ev : e.timeline) {
    if (ev.category == "op") ++ops;
    if (ev.category == "collective") (ev.lane == 1 ? dp : tp) += 1;
    end = std::max(end, ev.start_s + ev.duration_s);
  }
  EXPECT_EQ(ops, 2 * 2 + 1);  // forward and backward kernels per micro-batch, the optimizer's
  EXPECT_EQ(tp, 2);
  EXPECT_EQ(dp, 2);
  EXPECT_NEAR(end, e.total_s(), 1e-12);
  EXPECT_EQ(e.collectives.size(), 2u + 2u);  // in order: TP ones, then the DP buckets
  EXPECT_EQ(e.collectives.back().group, (std::vector<int>{0, 2}));
}

TEST(IterationModel, RejectsAGroupThatIsNotDpRanks) {
  IterationOptions o = dp2(1, true);
  o.dp_group = {0, 2, 4};
  EXPECT_THROW(estimate_iteration(hand_made(), o, round_profile()), std::invalid_argument);
}

}  // namespace
}  // namespace tensorpar::cost
