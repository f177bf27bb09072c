// The cost model against published measurements (bench/data/*.csv, docs/cost_model.md
// "Validation"): plan() on each row's fixed configuration, per row the prediction beside the
// published number, and per set the mean absolute percentage error and Spearman's rank
// correlation. Accuracy is reported, not asserted: the tests assert that every row ran, every
// prediction is finite and positive, and the errors were computed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/cost/hardware.h"
#include "tools/plan/planner.h"
#include "tools/validation/error_metrics.h"
#include "tools/validation/published_set.h"

namespace tensorpar {
namespace {

using validation::PublishedRow;
using validation::PublishedSet;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct Row {
  std::string name, metric;
  double published = 0, predicted = 0;
  plan::PlanResult plan;
};

cost::Recompute recompute_named(const PublishedRow& row) {
  const std::string& r = row.text("recompute");
  if (r == "none") return cost::Recompute::None;
  if (r == "selective") return cost::Recompute::Selective;
  if (r == "full") return cost::Recompute::Full;
  throw std::invalid_argument(row.file + ":" + std::to_string(row.line) + ": recompute '" + r +
                              "'");
}

// The row's configuration, fixed where the row gives it (an empty micro_batch is enumerated).
plan::PlanQuery query_for(const PublishedRow& row) {
  plan::PlanQuery q;
  q.hardware = cost::load_hardware(row.text("hardware"));
  q.gpus = int(row.integer("gpus"));
  q.gpus_per_node = q.hardware.node.gpus_per_node;
  q.model = {row.integer("layers"), row.integer("hidden"), row.integer("heads"), row.integer("seq"),
             row.integer("vocab")};
  q.global_batch = row.integer("global_batch");
  const std::string& dtype = row.text("dtype");
  q.dtype = dtype == "f32" ? DType::Float32 : DType::BFloat16;  // fp16 is modelled as bf16
  q.tp = int(row.integer("tp"));
  q.dp = int(row.integer("dp"));
  q.micro_batch = row.optional_integer("micro_batch");
  q.sequence_parallel = row.integer("sequence_parallel") != 0;
  q.recompute = recompute_named(row);
  // Megatron-LM's default attention and hidden dropout, which these runs kept.
  q.dropout = 0.1;
  return q;
}

// FLOPs per iteration as Narayanan et al. count them: 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) with
// full recompute, 72 without.
double paper_flops(const plan::PlanQuery& q) {
  const double b = double(q.global_batch), s = double(q.model.seq), l = double(q.model.layers),
               h = double(q.model.hidden), v = double(q.model.vocab);
  const double factor = q.recompute == cost::Recompute::Full ? 96 : 72;
  return factor * b * s * l * h * h * (1 + s / (6 * h) + v / (16 * l * h));
}

// Every row's prediction of its metric; speedups relative to the set's first row.
std::vector<Row> predict(const PublishedSet& set) {
  std::vector<Row> rows;
  double reference_s = 0;
  for (const PublishedRow& published : set.rows) {
    const plan::PlanQuery q = query_for(published);
    const std::vector<plan::PlanResult> plans = plan::plan(q);
    EXPECT_FALSE(plans.empty()) << published.text("name");
    if (plans.empty()) continue;
    Row row{published.text("name"), published.text("metric"), published.number("published"), 0,
            plans.front()};  // the best plan: those that fit first, then by time
    const double t = row.plan.iteration_s();
    const cost::MemoryBreakdown& m = row.plan.memory;
    if (rows.empty()) reference_s = t;
    if (row.metric == "speedup") {
      row.predicted = reference_s / t;
    } else if (row.metric == "tflops_per_gpu") {
      row.predicted = paper_flops(q) / (t * q.gpus) / 1e12;
    } else if (row.metric == "iteration_s") {
      row.predicted = t;
    } else if (row.metric == "memory_gib_parameters_optimizer") {
      row.predicted = (m.parameters + m.gradients + m.optimizer) / kGiB;
    } else if (row.metric == "memory_gib_activations") {
      row.predicted = m.activations / kGiB;
    } else {
      ADD_FAILURE() << published.file << ":" << published.line << ": unknown metric " << row.metric;
      continue;
    }
    rows.push_back(row);
  }
  return rows;
}

struct SetError {
  double mape = 0, spearman = 0;
};

// Prints the rows of `metrics` (all when empty) and their errors: the mean absolute percentage
// error over them less the first `reference_rows` (predicted equal to the published value by
// definition, such as a speedup's reference), Spearman's correlation over all of them.
SetError report(const std::string& title, const std::vector<Row>& rows,
                const std::vector<std::string>& metrics, std::size_t reference_rows = 0) {
  std::printf("\n%s\n  %-32s %-32s %10s %10s %8s  plan\n", title.c_str(), "row", "metric",
              "published", "predicted", "error");
  std::vector<double> predicted, published;
  for (const Row& r : rows) {
    bool counted = metrics.empty();
    for (const std::string& m : metrics) counted = counted || m == r.metric;
    if (!counted) continue;
    const double error = (r.predicted - r.published) / r.published;
    std::printf(
        "  %-32s %-32s %10.3f %10.3f %+7.1f%%  tp %d dp %d mb %lld%s %s%s\n", r.name.c_str(),
        r.metric.c_str(), r.published, r.predicted, 100 * error, r.plan.config.tp, r.plan.config.dp,
        static_cast<long long>(r.plan.config.micro_batch),
        r.plan.config.sequence_parallel ? " sp" : "", cost::recompute_name(r.plan.config.recompute),
        r.plan.fits ? "" : " (does not fit)");
    predicted.push_back(r.predicted);
    published.push_back(r.published);
  }
  SetError e;
  e.mape = validation::mean_absolute_percentage_error(
      std::vector<double>(predicted.begin() + std::ptrdiff_t(reference_rows), predicted.end()),
      std::vector<double>(published.begin() + std::ptrdiff_t(reference_rows), published.end()));
  e.spearman = predicted.size() >= 2 ? validation::spearman_rank_correlation(predicted, published)
                                     : std::nan("");
  std::printf("  mean absolute percentage error %.1f%% over %zu rows, Spearman %.2f over %zu\n",
              100 * e.mape, predicted.size() - reference_rows, e.spearman, predicted.size());
  return e;
}

void expect_ran(const PublishedSet& set, const std::vector<Row>& rows) {
  ASSERT_EQ(rows.size(), set.rows.size()) << set.file;
  for (const Row& r : rows) {
    EXPECT_TRUE(std::isfinite(r.predicted) && r.predicted > 0) << r.name << ": " << r.predicted;
  }
}

PublishedSet read(const char* file) {
  return validation::read_published_set(std::string(TENSORPAR_BENCH_DATA_DIR) + "/" + file);
}

// Every row of the set predicted and reported, one metric per set; the first `reference_rows`
// stand out of the error (see report).
void validate(const char* file, const std::string& title, std::size_t reference_rows = 0) {
  const PublishedSet set = read(file);
  const std::vector<Row> rows = predict(set);
  expect_ran(set, rows);
  const SetError e = report(title, rows, {}, reference_rows);
  EXPECT_TRUE(std::isfinite(e.mape));
  EXPECT_TRUE(std::isfinite(e.spearman));
}

TEST(Validation, MegatronLmStrongScalingOfThe1_2BModel) {
  // The first row is the reference (speedup 1 by definition): the error is over the others.
  validate("megatron_lm_strong_scaling_1.2b.csv",
           "Megatron-LM 1.2B strong scaling on DGX-2H (speedup over 1 GPU)", 1);
}

TEST(Validation, NarayananTable1RowsWithoutPipelineParallelism) {
  validate("narayanan_2021_table1_no_pipeline.csv",
           "Narayanan et al. 2021 Table 1, no pipeline (TFLOP/s per GPU)");
}

TEST(Validation, Korthikanti22BIterationTimesAndMemory) {
  const PublishedSet set = read("korthikanti_2022_22b.csv");
  const std::vector<Row> rows = predict(set);
  expect_ran(set, rows);
  const SetError time = report("Korthikanti et al. 2022, 22B on 8 A100 (seconds per iteration)",
                               rows, {"iteration_s"});
  const SetError memory = report("  ... memory per GPU (GiB)", rows,
                                 {"memory_gib_parameters_optimizer", "memory_gib_activations"});
  EXPECT_TRUE(std::isfinite(time.mape));
  EXPECT_TRUE(std::isfinite(time.spearman));
  EXPECT_TRUE(std::isfinite(memory.mape));
  EXPECT_TRUE(std::isfinite(memory.spearman));
}

}  // namespace
}  // namespace tensorpar
