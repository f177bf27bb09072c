// The training run behind `tensorpar train` (tools/cli/train_run.h) on a 2-D (dp, tp) mesh: the
// losses and the trained weights equal the single-device run's, also when dp does not divide the
// batch; each tp group issues the 1-D tensor-parallel step's collectives for its rows, and the
// dp group one all_reduce per gradient bucket in backward carrying every local gradient; the
// shape-only step of the same configuration predicts all of it, rank by rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/ops/ops.h"
#include "tools/cli/train_run.h"
#include "tools/shape_only/transformer_step.h"

namespace tensorpar::cli {
namespace {

using Counts = std::map<std::string, std::int64_t>;

// 2 layers of dim 16 (4 heads), vocab 32, seq 8, float64, Adam.
TrainConfig small(int dp, int tp, std::int64_t batch) {
  TrainConfig c;
  c.world = dp * tp;
  c.dp = dp;
  c.layers = 2;
  c.dim = 16;
  c.heads = 4;
  c.vocab = 32;
  c.seq = 8;
  c.batch = batch;
  c.steps = 3;
  c.dtype = DType::Float64;
  return c;
}

std::int64_t chunk(std::int64_t n, std::int64_t parts, std::int64_t index) {
  const std::int64_t step = (n + parts - 1) / parts;
  return std::max<std::int64_t>(0, std::min(step, n - index * step));
}

// Local parameter elements of tp rank `r` under the Transformer plan (output tied to
// tok_embeddings): embeddings Rowwise (rows of vocab and positions), per layer two replicated
// LayerNorms, wq/wk/wv Colwise, wo Rowwise, w1 Colwise with its bias, w2 Rowwise with a
// replicated bias, and the final LayerNorm.
std::int64_t local_parameter_elements(const TrainConfig& c, int tp, int r) {
  const std::int64_t d = c.dim, h = 4 * c.dim;
  const std::int64_t per_layer = 2 * (2 * d) + 3 * chunk(d, tp, r) * d + d * chunk(d, tp, r) +
                                 chunk(h, tp, r) * (d + 1) + d * chunk(h, tp, r) + d;
  return chunk(c.vocab, tp, r) * d + chunk(c.seq, tp, r) * d + c.layers * per_layer + 2 * d;
}

void expect_equals_single_device(const TrainConfig& config) {
  TrainConfig c = config;
  c.keep_weights = true;
  std::vector<std::pair<std::string, Tensor>> ref_weights;
  const std::vector<double> ref = run_reference(c, nullptr, &ref_weights);
  const std::vector<RankRun> ranks = run_tensor_parallel(c, nullptr);
  ASSERT_EQ(ranks.size(), static_cast<std::size_t>(c.world));
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    ASSERT_EQ(ranks[r].losses.size(), ref.size());
    for (std::size_t s = 0; s < ref.size(); ++s) {
      EXPECT_NEAR(ranks[r].losses[s], ref[s], 1e-9 * std::max(1.0, std::abs(ref[s]))) << s;
    }
    ASSERT_EQ(ranks[r].weights.size(), ref_weights.size());
    for (std::size_t i = 0; i < ref_weights.size(); ++i) {
      EXPECT_EQ(ranks[r].weights[i].first, ref_weights[i].first);
      EXPECT_LE(max_abs_diff(ranks[r].weights[i].second, ref_weights[i].second), 1e-9)
          << ref_weights[i].first;
    }
  }
  // The weights moved: the comparison is not of two untrained models.
  TrainConfig untrained = c;
  untrained.steps = 0;
  std::vector<std::pair<std::string, Tensor>> initial;
  run_reference(untrained, nullptr, &initial);
  EXPECT_GT(max_abs_diff(initial[0].second, ref_weights[0].second), 1e-4);
}

TEST(TrainRunMesh, Dp2Tp2EqualsTheSingleDeviceRunInLossesAndWeights) {
  expect_equals_single_device(small(2, 2, 8));
}

TEST(TrainRunMesh, Dp3Tp2WithAnUnevenBatchEqualsTheSingleDeviceRun) {
  expect_equals_single_device(small(3, 2, 8));  // rows 3, 3, 2
}

TEST(TrainRunMesh, DegenerateMeshesEqualTheSingleDeviceRun) {
  expect_equals_single_device(small(1, 4, 5));
  expect_equals_single_device(small(5, 1, 9));  // rows 2, 2, 2, 2, 1
}

TEST(TrainRunMesh, SequenceAndLossParallelOnTheTpDimEqualTheSingleDeviceRun) {
  TrainConfig c = small(2, 2, 5);  // rows 3, 2
  c.sequence_parallel = true;
  expect_equals_single_device(c);
  c.sequence_parallel = false;
  c.loss_parallel = true;
  expect_equals_single_device(c);
}

// Per step: each tp group issues what the 1-D tensor-parallel run issues for its rows (counts
// and bytes per phase), and the dp group one all_reduce in backward (the reference model's
// gradients fit one 25 MiB bucket) carrying this rank's local gradients.
void expect_tp_and_dp_collectives(int dp, int tp, std::int64_t batch) {
  const TrainConfig c = small(dp, tp, batch);
  const std::vector<RankRun> ranks = run_tensor_parallel(c, nullptr);
  for (int r = 0; r < c.world; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    const int dp_rank = r / tp, tp_rank = r % tp;
    TrainConfig one_d = small(1, tp, chunk(batch, dp, dp_rank));
    one_d.dp = 0;
    one_d.steps = 1;
    const StepComm tp_only = run_tensor_parallel(one_d, nullptr)[tp_rank].comm.at(0);
    for (const StepComm& step : ranks[r].comm) {
      const std::int64_t dp_bytes = local_parameter_elements(c, tp, tp_rank) * 8;
      EXPECT_EQ(step.dp_counts,
                (std::map<CommPhase, Counts>{{CommPhase::Backward, Counts{{"all_reduce", 1}}}}));
      EXPECT_EQ(step.dp_bytes,
                (std::map<CommPhase, std::int64_t>{{CommPhase::Backward, dp_bytes}}));
      StepComm tp_part = step;
      tp_part.dp_counts.clear();
      tp_part.dp_bytes.clear();
      if (--tp_part.counts[CommPhase::Backward]["all_reduce"] == 0) {
        tp_part.counts[CommPhase::Backward].erase("all_reduce");
      }
      if (tp_part.counts[CommPhase::Backward].empty()) tp_part.counts.erase(CommPhase::Backward);
      tp_part.bytes[CommPhase::Backward] -= dp_bytes;
      if (tp_part.bytes[CommPhase::Backward] == 0) tp_part.bytes.erase(CommPhase::Backward);
      EXPECT_EQ(tp_part, tp_only);
    }
  }
}

TEST(TrainRunMesh, Dp2Tp2IssuesTheTpStepPerGroupAndOneDpBucketPerStep) {
  expect_tp_and_dp_collectives(2, 2, 8);
  // The 1-D step's counts, for the record: forward {all_reduce 6, all_gather 1}, backward
  // {all_reduce 9}; with dp one more all_reduce in backward.
  const RankRun rank0 = run_tensor_parallel(small(2, 2, 8), nullptr)[0];
  EXPECT_EQ(rank0.comm[0].counts.at(CommPhase::Forward),
            (Counts{{"all_gather", 1}, {"all_reduce", 6}}));
  EXPECT_EQ(rank0.comm[0].counts.at(CommPhase::Backward), (Counts{{"all_reduce", 10}}));
  EXPECT_EQ(rank0.comm[0].counts.count(CommPhase::Optimizer), 0u);
  // 3648 local float64 elements: the single bucket's bytes.
  EXPECT_EQ(rank0.comm[0].dp_bytes.at(CommPhase::Backward), 3648 * 8);
}

TEST(TrainRunMesh, Dp3Tp2UnevenBatchIssuesTheTpStepOfEachGroupsRows) {
  expect_tp_and_dp_collectives(3, 2, 8);
}

// The shape-only run of the same 2-D step (tools/shape_only) issues, on every rank, the
// collectives each training step issues: counts and bytes per phase, tp and dp apart.
void expect_shape_only_predicts(int dp, int tp, std::int64_t batch, bool sp) {
  TrainConfig c = small(dp, tp, batch);
  c.sequence_parallel = sp;
  const std::vector<RankRun> ranks = run_tensor_parallel(c, nullptr);
  ShapeOnlyStepConfig s;
  s.dp = dp;
  s.world = tp;
  s.model = model_args(c);
  s.batch = c.batch;
  s.seq = c.seq;
  s.sequence_parallel = sp;
  const std::vector<sim::ShapeOnlyRank> predicted = shape_only_step(s);
  ASSERT_EQ(predicted.size(), ranks.size());
  for (int r = 0; r < c.world; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    std::vector<int> column, row;
    for (int i = 0; i < dp; ++i) column.push_back(i * tp + r % tp);
    for (int j = 0; j < tp; ++j) row.push_back(r / tp * tp + j);
    StepComm want;
    for (const CollectiveRecord& rec : *predicted[r].collectives) {
      const std::string name(collective_name(rec.kind));
      ++want.counts[rec.phase][name];
      want.bytes[rec.phase] += rec.bytes;
      if (rec.group == column && rec.group != row) {
        ++want.dp_counts[rec.phase][name];
        want.dp_bytes[rec.phase] += rec.bytes;
      }
    }
    for (const StepComm& step : ranks[r].comm) EXPECT_EQ(step, want);
  }
}

TEST(TrainRunMesh, TheShapeOnlyStepPredictsEveryRanksCollectives) {
  expect_shape_only_predicts(2, 2, 8, false);
  expect_shape_only_predicts(3, 2, 8, false);
  expect_shape_only_predicts(3, 2, 8, true);
  expect_shape_only_predicts(3, 1, 8, false);
}

}  // namespace
}  // namespace tensorpar::cli
