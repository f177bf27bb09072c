// The planner's workloads (tools/plan/workload.h): extrapolated from 1- and 2-layer runs at
// micro-batch 1 and 2, they equal a direct shape-only run of the whole depth and micro-batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "tools/plan/workload.h"

namespace tensorpar::plan {
namespace {

using cost::WorkItem;

// A small model with an uneven vocabulary over 2 and 3 ranks (13 rows: 7 + 6, 5 + 5 + 3).
const cost::ModelShape kModel{.layers = 4, .hidden = 24, .heads = 6, .seq = 6, .vocab = 13};

struct Totals {
  std::int64_t flops = 0, bytes = 0, kernels = 0, collectives = 0, collective_bytes = 0;
  bool operator==(const Totals&) const = default;
};

Totals totals(const std::vector<WorkItem>& items) {
  Totals t;
  for (const WorkItem& i : items) {
    if (i.is_collective) {
      ++t.collectives;
      t.collective_bytes += i.collective.bytes;
    } else {
      ++t.kernels;
      t.flops += i.op.flops;
      t.bytes += i.op.bytes_read + i.op.bytes_written;
    }
  }
  return t;
}

// Record by record: kernel, FLOPs, bytes and shape; collective kind, bytes and group.
void expect_same_items(const std::vector<WorkItem>& got, const std::vector<WorkItem>& want,
                       const std::string& phase) {
  ASSERT_EQ(got.size(), want.size()) << phase;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].is_collective, want[i].is_collective) << phase << " record " << i;
    if (got[i].is_collective) {
      EXPECT_EQ(got[i].collective.kind, want[i].collective.kind) << phase << " record " << i;
      EXPECT_EQ(got[i].collective.bytes, want[i].collective.bytes) << phase << " record " << i;
      EXPECT_EQ(got[i].collective.group, want[i].collective.group) << phase << " record " << i;
    } else {
      EXPECT_EQ(got[i].op.kernel, want[i].op.kernel) << phase << " record " << i;
      EXPECT_EQ(got[i].op.flops, want[i].op.flops) << phase << " record " << i;
      EXPECT_EQ(got[i].op.bytes_read, want[i].op.bytes_read) << phase << " record " << i;
      EXPECT_EQ(got[i].op.bytes_written, want[i].op.bytes_written) << phase << " record " << i;
      EXPECT_EQ(got[i].op.shape, want[i].op.shape) << phase << " record " << i;
    }
  }
}

WorkItem kernel(const char* name) {
  WorkItem w;
  w.op.kernel = name;
  return w;
}

TEST(LayerInsertion, FindsEveryPointWhereTheBlockCanGoIn) {
  // embed [norm attn add] loss -> embed [norm attn add] [norm attn add] loss: the block can go
  // in at record 1 (before the first layer; the runs' common suffix reaches back to there) up to
  // record 4 (after it; their common prefix reaches that far). Any point gives the same sequence.
  const std::vector<WorkItem> one = {kernel("embed"), kernel("norm"), kernel("attn"), kernel("add"),
                                     kernel("loss")};
  std::vector<WorkItem> two = one;
  two.insert(two.begin() + 4, {kernel("norm"), kernel("attn"), kernel("add")});
  const LayerInsertion at = layer_insertion(one, two);
  EXPECT_EQ(at.block, 3u);
  EXPECT_EQ(at.first, 1u);
  EXPECT_EQ(at.last, 4u);
  const WorkloadFactory::Split s = split_layers(one, two, at.first);
  EXPECT_EQ(s.head.size(), 1u);
  EXPECT_EQ(s.layer.size(), 3u);
  EXPECT_EQ(s.layer[0].op.kernel, "norm");
  EXPECT_EQ(s.tail.size(), 4u);
}

TEST(LayerInsertion, RejectsRunsThatAreNotOneBlockApart) {
  const std::vector<WorkItem> one = {kernel("embed"), kernel("norm"), kernel("loss")};
  const std::vector<WorkItem> two = {kernel("embed"), kernel("add"), kernel("norm"), kernel("gelu"),
                                     kernel("loss")};
  EXPECT_THROW(layer_insertion(one, two), std::runtime_error);
  EXPECT_THROW(layer_insertion(two, one), std::runtime_error);
}

void expect_extrapolation_is_direct(int tp, bool sp, std::int64_t micro_batch) {
  WorkloadFactory factory(kModel);
  const WorkloadSpec spec{.tp = tp, .micro_batch = micro_batch, .sequence_parallel = sp};
  const PlanWorkload got = factory.build(spec);
  const PlanWorkload want = run_workload(step_config(kModel, kModel.layers, spec, 0.0), spec.dtype);
  expect_same_items(got.workload.forward, want.workload.forward, "forward");
  expect_same_items(got.workload.backward, want.workload.backward, "backward");
  expect_same_items(got.workload.optimizer, want.workload.optimizer, "optimizer");
  EXPECT_EQ(totals(got.workload.forward), totals(want.workload.forward));
  EXPECT_EQ(totals(got.workload.backward), totals(want.workload.backward));
  EXPECT_EQ(got.workload.gradient_bytes, want.workload.gradient_bytes);
  EXPECT_EQ(factory.shape_only_runs(), 4);
}

TEST(Workload, FourLayersAtMicroBatchThreeEqualADirectRunWithoutParallelism) {
  expect_extrapolation_is_direct(1, false, 3);
}

TEST(Workload, FourLayersAtMicroBatchThreeEqualADirectRunAtTpTwo) {
  expect_extrapolation_is_direct(2, false, 3);
}

TEST(Workload, FourLayersAtMicroBatchFiveEqualADirectRunAtTpThreeWithSequenceParallel) {
  expect_extrapolation_is_direct(3, true, 5);
}

TEST(Workload, TensorParallelLayersIssueMegatronsAllReducesInIssueOrder) {
  // tp 2, no SP: per layer forward 2 all_reduces (after wo and w2), each b s h x 4 bytes (f32).
  const WorkloadSpec spec{.tp = 2, .micro_batch = 1, .dtype = DType::Float32};
  const PlanWorkload w = run_workload(step_config(kModel, 1, spec, 0.0));
  std::vector<std::string> before;
  for (std::size_t i = 0; i < w.workload.forward.size(); ++i) {
    const WorkItem& item = w.workload.forward[i];
    if (item.is_collective && item.collective.kind == CollectiveKind::AllReduce &&
        item.collective.bytes == kModel.seq * kModel.hidden * 4) {
      ASSERT_GT(i, 0u);
      before.push_back(w.workload.forward[i - 1].op.kernel);
    }
  }
  // The row-parallel token and position embeddings' partial sums, then wo's and w2's partial
  // outputs, each reduced right after the kernel that made it.
  EXPECT_EQ(before, (std::vector<std::string>{"embedding", "embedding", "linear", "linear"}));
}

TEST(Workload, WithoutLossParallelTheLogitsAreGatheredInsteadOfThreeAllReduces) {
  WorkloadFactory factory(kModel);
  auto forward_counts = [&](bool loss_parallel) {
    std::map<CollectiveKind, int> counts;
    const PlanWorkload w =
        factory.build({.tp = 2, .micro_batch = 2, .loss_parallel = loss_parallel});
    for (const WorkItem& i : w.workload.forward) {
      if (i.is_collective) ++counts[i.collective.kind];
    }
    return counts;
  };
  // Per layer 2 all_reduces, the embeddings' 2; then the loss's 3 or the logits' all_gather.
  EXPECT_EQ(forward_counts(true),
            (std::map<CollectiveKind, int>{{CollectiveKind::AllReduce, 2 * 4 + 2 + 3}}));
  EXPECT_EQ(forward_counts(false),
            (std::map<CollectiveKind, int>{{CollectiveKind::AllReduce, 2 * 4 + 2},
                                           {CollectiveKind::AllGather, 1}}));
  EXPECT_EQ(factory.shape_only_runs(), 8);
}

TEST(Workload, GradientBytesFollowRegistrationOrder) {
  // Per layer: attention_norm (w, b), wq, wk, wv, wo (no bias), ffn_norm (w, b), w1, w2 (w, b).
  const WorkloadSpec spec{.tp = 1, .micro_batch = 1, .dtype = DType::Float32};
  const PlanWorkload w = run_workload(step_config(kModel, 1, spec, 0.0));
  const std::int64_t h = kModel.hidden;
  ASSERT_FALSE(w.workload.gradient_bytes.empty());
  // First the tied embedding (vocab x h), then the positions (seq x h).
  EXPECT_EQ(w.workload.gradient_bytes[0], kModel.vocab * h * 4);
  EXPECT_EQ(w.workload.gradient_bytes[1], kModel.seq * h * 4);
  std::int64_t total = 0;
  for (std::int64_t b : w.workload.gradient_bytes) total += b;
  // One layer 12 h^2 + 9 h, the final norm 2 h: every parameter once.
  EXPECT_EQ(total, (kModel.vocab * h + kModel.seq * h + 12 * h * h + 9 * h + 2 * h) * 4);
}

TEST(Workload, SixteenBitStepsMoveHalfTheBytes) {
  WorkloadFactory factory(kModel);
  const PlanWorkload f32 = factory.build({.tp = 2, .micro_batch = 1, .dtype = DType::Float32});
  const PlanWorkload bf16 = factory.build({.tp = 2, .micro_batch = 1, .dtype = DType::BFloat16});
  const Totals a = totals(f32.workload.forward), b = totals(bf16.workload.forward);
  EXPECT_EQ(b.flops, a.flops);
  EXPECT_EQ(b.collective_bytes * 2, a.collective_bytes);
  EXPECT_EQ(totals(bf16.workload.optimizer).bytes, totals(f32.workload.optimizer).bytes);
  ASSERT_EQ(bf16.workload.gradient_bytes.size(), f32.workload.gradient_bytes.size());
  EXPECT_EQ(bf16.workload.gradient_bytes[0] * 2, f32.workload.gradient_bytes[0]);
}

TEST(Workload, FullRecomputeRerunsEveryLayersForwardBlock) {
  WorkloadFactory factory(kModel);
  const PlanWorkload none = factory.build({.tp = 2, .micro_batch = 2});
  const PlanWorkload full =
      factory.build({.tp = 2, .micro_batch = 2, .recompute = cost::Recompute::Full});
  EXPECT_TRUE(none.workload.recompute.empty());
  const Totals fwd = totals(none.workload.forward);
  const Totals rec = totals(full.workload.recompute);
  // The layers' forward (2 all_reduces each) again, not the embedding's nor the loss's.
  EXPECT_EQ(rec.collectives, 2 * kModel.layers);
  EXPECT_LT(rec.flops, fwd.flops);
  EXPECT_EQ(rec.kernels % kModel.layers, 0);
  EXPECT_EQ(factory.shape_only_runs(), 4);
}

TEST(Workload, SelectiveRecomputeRerunsTheAttentionCore) {
  WorkloadFactory factory(kModel);
  const PlanWorkload sel =
      factory.build({.tp = 2, .micro_batch = 2, .recompute = cost::Recompute::Selective});
  const std::vector<WorkItem>& rec = sel.workload.recompute;
  ASSERT_FALSE(rec.empty());
  std::int64_t matmuls = 0;
  for (const WorkItem& i : rec) {
    EXPECT_FALSE(i.is_collective);
    if (i.op.kernel == "matmul") ++matmuls;
  }
  EXPECT_EQ(matmuls, 2 * kModel.layers);  // q k^T and p v per layer
  // The score matmul of a rank's 3 heads: 2 x b x heads x s x s x head_dim.
  EXPECT_EQ(rec.front().op.flops,
            2 * 2 * 3 * kModel.seq * kModel.seq * (kModel.hidden / kModel.heads));
  EXPECT_EQ(rec.back().op.kernel, "matmul");
}

}  // namespace
}  // namespace tensorpar::plan
