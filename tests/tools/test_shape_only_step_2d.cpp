// The Transformer step on a 2-D (dp, tp) mesh run shape-only (tools/shape_only/transformer_step.h,
// ShapeOnlyStepConfig::dp): rank by rank the collective sequence (kind, bytes, group, op, phase,
// module) of the real sim running the same step, also when only one rank per class runs (the
// representative's tp and dp groups remapped to each rank's own), and the data-parallel gradient
// buckets of published model widths by the 25 MiB rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "sim/world.h"
#include "tools/shape_only/transformer_step.h"
#include "tools/shape_only_testing.h"

namespace tensorpar {
namespace {

// small_config's model on the mesh (dp, tp), 8 sequences: over dp 3, rows 3, 3, 2.
ShapeOnlyStepConfig mesh_config(int dp, int tp, bool sp, bool loss_parallel) {
  ShapeOnlyStepConfig c = shape_only_testing::small_config(tp, sp, loss_parallel);
  c.dp = dp;
  c.batch = 8;
  return c;
}

using shape_only_testing::expect_same_sequence;
using shape_only_testing::real_step_collectives;

struct MeshCase {
  int dp, tp;
  bool sp, loss_parallel;
};

class ShapeOnlyStep2d : public testing::TestWithParam<MeshCase> {};

TEST_P(ShapeOnlyStep2d, EqualsTheRealSimRankByRankWithEveryRankOrOnePerClass) {
  const MeshCase k = GetParam();
  ShapeOnlyStepConfig c = mesh_config(k.dp, k.tp, k.sp, k.loss_parallel);
  const auto real = real_step_collectives(c);
  for (bool distinct : {false, true}) {
    SCOPED_TRACE(distinct ? "one rank per class" : "every rank");
    c.distinct_ranks = distinct;
    const auto shape_only = shape_only_step(c);
    ASSERT_EQ(shape_only.size(), real.size());
    for (int r = 0; r < c.ranks(); ++r) {
      SCOPED_TRACE(r);
      expect_same_sequence(*shape_only[r].collectives, real[r]);
    }
    if (distinct) {
      // Ranks with the same rows and tp shards are reported through one, from another dp row.
      EXPECT_LT(shape_only[c.world].represented_by, c.world);
    }
  }
  // The step's data-parallel part: all_reduces (avg) over this rank's dp column, in backward.
  for (int r = 0; r < c.ranks(); ++r) {
    std::vector<int> column;
    for (int i = 0; i < c.dp; ++i) column.push_back(i * c.world + r % c.world);
    int dp_reduces = 0;
    for (const CollectiveRecord& rec : real[r]) {
      if (rec.group != column) continue;
      ++dp_reduces;
      EXPECT_EQ(rec.kind, CollectiveKind::AllReduce);
      EXPECT_EQ(rec.op, ReduceOp::Avg);
      EXPECT_EQ(rec.phase, CommPhase::Backward);
    }
    EXPECT_EQ(dp_reduces, 1) << "rank " << r << ": the small model is one 25 MiB bucket";
  }
}

INSTANTIATE_TEST_SUITE_P(Meshes, ShapeOnlyStep2d,
                         testing::Values(MeshCase{2, 2, false, false}, MeshCase{3, 2, false, false},
                                         MeshCase{2, 2, true, true}, MeshCase{3, 2, true, false},
                                         MeshCase{2, 3, false, true}),
                         [](const testing::TestParamInfo<MeshCase>& info) {
                           std::string name = "dp" + std::to_string(info.param.dp) + "_tp" +
                                              std::to_string(info.param.tp);
                           if (info.param.sp) name += "_sp";
                           if (info.param.loss_parallel) name += "_loss_parallel";
                           return name;
                         });

TEST(ShapeOnlyStep2dClasses, RanksWithTheSameRowsAndShardsShareAClass) {
  ShapeOnlyStepConfig c = mesh_config(3, 2, false, false);
  c.model.vocab_size = 12;  // every extent even: one tp class
  // dp rows 3, 3, 2: the first two dp rows are one class, the last another.
  EXPECT_EQ(transformer_rank_classes(c), (std::vector<int>{0, 0, 0, 0, 4, 4}));
  c.model.vocab_size = 11;  // 6 and 5 rows of the vocabulary: two tp classes
  EXPECT_EQ(transformer_rank_classes(c), (std::vector<int>{0, 1, 0, 1, 4, 5}));
}

// DDP's rule on the local float32 gradients in reverse registration order: a bucket closes once
// it holds 25 MiB or more.
int buckets_by_the_rule(const std::vector<std::int64_t>& elements_in_registration_order) {
  constexpr std::int64_t kCap = 25ll << 20;
  int buckets = 0;
  std::int64_t open = 0;
  for (auto it = elements_in_registration_order.rbegin();
       it != elements_in_registration_order.rend(); ++it) {
    open += *it * 4;
    if (open >= kCap) {
      ++buckets;
      open = 0;
    }
  }
  return buckets + (open > 0 ? 1 : 0);
}

// GPT-3's width, 2 of its layers, tp 8 and dp 2, 2 sequences (one per dp rank): tp rank 0 holds
// 6283 vocabulary rows and 256 positions; per layer two LayerNorms, wq/wk/wv/wo with 1536 of
// 12288 columns or rows, w1 with 6144 of 49152 rows and their bias, w2 with a whole bias.
TEST(ShapeOnlyStep2dBuckets, Gpt3WidthAtDp2Tp8ReducesEveryLocalGradientInTheRulesBuckets) {
  ShapeOnlyStepConfig c = gpt3_175b(8, 2);
  c.dp = 2;
  c.batch = 2;
  const std::int64_t h = c.model.dim, t = 8;
  std::vector<std::int64_t> elements = {(c.model.vocab_size + t - 1) / t * h,
                                        c.model.max_seq_len / t * h};
  for (int layer = 0; layer < 2; ++layer) {
    const std::vector<std::int64_t> block = {
        h, h, h / t * h,     h / t * h, h / t * h,     h * h / t,
        h, h, 4 * h / t * h, 4 * h / t, h * 4 * h / t, h};
    elements.insert(elements.end(), block.begin(), block.end());
  }
  elements.insert(elements.end(), {h, h});  // the final norm; output is tied to tok_embeddings
  std::int64_t total_bytes = 0;
  for (std::int64_t e : elements) total_bytes += e * 4;

  const auto ranks = shape_only_step(c);
  ASSERT_EQ(ranks.size(), 16u);
  const std::vector<int> column = {0, 8};
  int dp_reduces = 0;
  std::int64_t dp_bytes = 0;
  for (const CollectiveRecord& rec : *ranks[0].collectives) {
    if (rec.group != column) continue;
    ++dp_reduces;
    dp_bytes += rec.bytes;
    EXPECT_EQ(rec.phase, CommPhase::Backward);
  }
  EXPECT_EQ(dp_reduces, buckets_by_the_rule(elements));
  EXPECT_GT(dp_reduces, 10);  // the large matrices are a bucket each
  EXPECT_EQ(dp_bytes, total_bytes);
  // Rank 15 (dp 1, tp 7: the last 6276 vocabulary rows) reports its own column.
  for (const CollectiveRecord& rec : *ranks[15].collectives) {
    EXPECT_TRUE(rec.group == (std::vector<int>{7, 15}) ||
                rec.group == (std::vector<int>{8, 9, 10, 11, 12, 13, 14, 15}));
  }
}

}  // namespace
}  // namespace tensorpar
