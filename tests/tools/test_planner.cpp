// The planner (tools/plan/planner.h): which plans it enumerates, how it ranks them, what it
// predicts a plan sends, and the usage errors it names.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "tools/plan/planner.h"
#include "tools/plan/workload.h"

namespace tensorpar::plan {
namespace {

using cost::Recompute;

PlanQuery small_query() {
  PlanQuery q;
  q.hardware = cost::load_hardware("h100-sxm");
  q.gpus = 4;
  q.model = {.layers = 2, .hidden = 24, .heads = 2, .seq = 6, .vocab = 13};
  q.global_batch = 4;
  return q;
}

// One plan of the small query: tp x (4 / tp), fixed micro-batch, SP and recompute.
PlanQuery one_plan(int tp, std::int64_t micro_batch, bool sp, Recompute recompute) {
  PlanQuery q = small_query();
  q.tp = tp;
  q.micro_batch = micro_batch;
  q.sequence_parallel = sp;
  q.recompute = recompute;
  return q;
}

using Key = std::tuple<int, int, std::int64_t, bool, Recompute>;

std::set<Key> keys(const std::vector<PlanResult>& plans) {
  std::set<Key> out;
  for (const PlanResult& r : plans) {
    const auto& c = r.config;
    out.insert({c.tp, c.dp, c.micro_batch, c.sequence_parallel, c.recompute});
  }
  return out;
}

TEST(Planner, EnumeratesEveryPlanThatDividesEvenly) {
  // 4 GPUs, 2 heads: tp 1 (dp 4, micro-batch 1) or tp 2 (dp 2, micro-batch 1 or 2; sequence
  // parallel off or on); tp 4 does not divide the heads. Each with the three recomputes.
  const std::vector<PlanResult> plans = plan(small_query());
  std::set<Key> want;
  for (Recompute r : {Recompute::None, Recompute::Selective, Recompute::Full}) {
    want.insert({1, 4, 1, false, r});
    for (std::int64_t mb : {1, 2}) {
      for (bool sp : {false, true}) want.insert({2, 2, mb, sp, r});
    }
  }
  EXPECT_EQ(plans.size(), 15u);
  EXPECT_EQ(keys(plans), want);
  for (const PlanResult& r : plans) {
    EXPECT_EQ(r.micro_batches * r.config.micro_batch * r.config.dp, 4);
  }
}

TEST(Planner, FixedFlagsNarrowTheEnumeration) {
  PlanQuery q = small_query();
  q.tp = 2;
  q.sequence_parallel = true;
  EXPECT_EQ(plan(q).size(), 2u * 3u);  // micro-batch 1, 2 x three recomputes
  q.micro_batch = 2;
  q.recompute = Recompute::Selective;
  const std::vector<PlanResult> one = plan(q);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(keys(one), (std::set<Key>{{2, 2, 2, true, Recompute::Selective}}));
}

TEST(Planner, RanksPlansThatFitFirstThenByIterationTime) {
  PlanQuery q = small_query();
  // A device whose memory holds only some plans: the middle of the plans' totals.
  std::vector<PlanResult> plans = plan(q);
  std::vector<double> totals;
  for (const PlanResult& r : plans) totals.push_back(r.memory.total());
  std::sort(totals.begin(), totals.end());
  q.hardware.device.memory_bytes = totals[totals.size() / 2];
  plans = plan(q);
  bool seen_misfit = false;
  std::size_t fitting = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    EXPECT_EQ(plans[i].fits, plans[i].memory.total() <= q.hardware.device.memory_bytes);
    if (!plans[i].fits) seen_misfit = true;
    if (plans[i].fits) {
      ++fitting;
      EXPECT_FALSE(seen_misfit) << "plan " << i << " fits but follows one that does not";
    }
    if (i > 0 && plans[i].fits == plans[i - 1].fits) {
      EXPECT_LE(plans[i - 1].iteration_s(), plans[i].iteration_s());
    }
  }
  EXPECT_GT(fitting, 0u);
  EXPECT_LT(fitting, plans.size());
}

TEST(Planner, PredictsTheCollectivesOfTheShapeOnlyStepPerMicroBatchPlusDpBuckets) {
  // tp 2 x dp 2, micro-batch 1 of a global batch of 4: 2 micro-batches per iteration.
  PlanQuery q = one_plan(2, 1, true, Recompute::None);
  q.dtype = DType::Float32;
  q.dp = 2;
  const std::vector<PlanResult> plans = plan(q);
  ASSERT_EQ(plans.size(), 1u);

  // The same step run shape-only at 2 ranks, micro-batch 1, both layers.
  const auto ranks = shape_only_step(step_config(
      q.model, q.model.layers, {.tp = 2, .micro_batch = 1, .sequence_parallel = true}, 0.0));
  std::map<std::tuple<CommPhase, CollectiveKind>, std::pair<std::int64_t, std::int64_t>> want;
  for (const CollectiveRecord& c : *ranks[0].collectives) {
    const std::int64_t times = c.phase == CommPhase::Optimizer ? 1 : 2;
    auto& [count, bytes] = want[{c.phase, c.kind}];
    count += times;
    bytes += times * c.bytes;
  }
  std::map<std::tuple<CommPhase, CollectiveKind>, std::pair<std::int64_t, std::int64_t>> got;
  std::int64_t dp_count = 0, dp_bytes = 0;
  for (const auto& t : plans[0].time.collective_totals) {
    if (t.data_parallel) {
      EXPECT_EQ(t.group_size, 2);
      dp_count += t.count;
      dp_bytes += t.bytes;
      continue;
    }
    EXPECT_EQ(t.group_size, 2);
    auto& [count, bytes] = got[{t.phase, t.kind}];
    count += t.count;
    bytes += t.bytes;
  }
  EXPECT_EQ(got, want);
  // Every local gradient once (f32: the parameters' bytes on rank 0), in one bucket (< 25 MiB).
  EXPECT_EQ(dp_count, 1);
  std::int64_t gradients = 0;
  for (const kernels::OpRecord& op : *ranks[0].ops) {
    if (op.kernel == "adam_update_")
      gradients += op.bytes_written / 3;  // param, exp_avg, exp_avg_sq
  }
  EXPECT_EQ(dp_bytes, gradients);
}

TEST(Planner, MfuCountsTheModelsFlopsAgainstEveryGpusPeak) {
  const std::vector<PlanResult> plans = plan(small_query());
  // 72 B s l h^2 (1 + s / 6h) + 6 B s h V with B 4, s 6, l 2, h 24, V 13.
  const double flops = 72.0 * 4 * 6 * 2 * 24 * 24 * (1 + 6.0 / 144) + 6.0 * 4 * 6 * 24 * 13;
  EXPECT_DOUBLE_EQ(model_flops(small_query().model, 4), flops);
  for (const PlanResult& r : plans) {
    EXPECT_DOUBLE_EQ(r.mfu, flops / (r.iteration_s() * 4 * 989.5e12));
    EXPECT_GT(r.mfu, 0);
    EXPECT_LT(r.mfu, 1);
  }
}

TEST(Planner, RecomputeAddsComputeFullMoreThanSelective) {
  // Full recompute re-runs every layer's forward, selective only the attention core.
  const double none = plan(one_plan(2, 2, false, Recompute::None))[0].time.compute_s;
  const double full = plan(one_plan(2, 2, false, Recompute::Full))[0].time.compute_s;
  const double selective = plan(one_plan(2, 2, false, Recompute::Selective))[0].time.compute_s;
  EXPECT_GT(full, selective);
  EXPECT_GT(selective, none);
}

TEST(Planner, Fp32GradientsDoubleTheDpPayloadOfBf16Training) {
  PlanQuery q = one_plan(2, 1, false, Recompute::None);
  const PlanResult bf16 = plan(q)[0];
  q.gradient_element_bytes = 4;
  const PlanResult fp32 = plan(q)[0];
  std::int64_t a = 0, b = 0;
  for (std::int64_t x : bf16.time.dp_buckets) a += x;
  for (std::int64_t x : fp32.time.dp_buckets) b += x;
  EXPECT_GT(a, 0);
  EXPECT_EQ(b, 2 * a);
  EXPECT_DOUBLE_EQ(fp32.memory.gradients, 2 * bf16.memory.gradients);
}

TEST(Planner, GroupsSpreadOverNodesWhenNodesAreSmall) {
  // tp 2 x dp 2: with 8 GPUs per node every group is inside one node; with 1, every group crosses
  // the network (TP {0, 1}, DP {0, 2}), whose NICs are slower than NVLink.
  PlanQuery q = one_plan(2, 1, false, Recompute::None);
  const PlanResult one_node = plan(q)[0];
  q.gpus_per_node = 1;
  const PlanResult spread = plan(q)[0];
  EXPECT_GT(spread.time.tp_comm_s, one_node.time.tp_comm_s);
  EXPECT_GT(spread.time.dp_comm_s, one_node.time.dp_comm_s);
  EXPECT_DOUBLE_EQ(spread.time.compute_s, one_node.time.compute_s);
}

void expect_usage_error(const PlanQuery& q, const std::string& message) {
  try {
    plan(q);
    ADD_FAILURE() << "no error; expected '" << message << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(Planner, UsageErrorsNameTheFlag) {
  PlanQuery q = small_query();
  q.tp = 3;
  expect_usage_error(q, "--tp 3 does not divide --heads 2");
  q = small_query();
  q.tp = 2;
  q.dp = 1;
  expect_usage_error(q, "--gpus 4 is not --tp 2 x --dp 1");
  q = small_query();
  q.dp = 2;
  q.micro_batch = 3;
  expect_usage_error(q, "--micro-batch 3 does not divide");
  q = small_query();
  q.tp = 1;
  q.sequence_parallel = true;
  expect_usage_error(q, "--sequence-parallel needs --tp > 1");
  q = small_query();
  q.dp = 1;
  expect_usage_error(q, "--dp 1 leaves tp = --gpus 4 / 1 = 4, which does not divide --heads 2");
  q = small_query();
  q.global_batch = 3;  // dp is 4 (tp 1) or 2 (tp 2): neither divides it
  expect_usage_error(q, "no plan divides evenly");
}

}  // namespace
}  // namespace tensorpar::plan
