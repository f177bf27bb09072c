// `tensorpar plan` as scripts call it: the JSON report, the text report, the trace and the usage
// errors (exit 2, naming the flag).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "core/cost/hardware.h"
#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace {

using tensorpar::cli_testing::parse_json;
using tensorpar::cli_testing::Result;
using tensorpar::cli_testing::run_cli;
using tensorpar::cli_testing::Value;
using ::testing::HasSubstr;

// 4 GPUs, a model of 2 heads: tp 1 x dp 4 or tp 2 x dp 2.
const std::string kSmall =
    "plan --hardware h100-sxm --gpus 4 --layers 2 --dim 24 --heads 2 --seq 6 --vocab 13 "
    "--global-batch 4 ";

Value run_json(const std::string& args) {
  const Result r = run_cli(args + " --json", /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  return parse_json(r.out);
}

TEST(CliPlan, JsonListsEveryPlanBestFirstWithItsBreakdown) {
  const Value report = run_json(kSmall);
  EXPECT_EQ(report["gpus"].num(), 4);
  EXPECT_EQ(report["hardware"].str(), "h100-sxm");
  const auto& plans = report["plans"].arr();
  ASSERT_EQ(plans.size(), 15u);  // tp 1: 1 micro-batch; tp 2: 2 x SP off/on; x 3 recomputes
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const Value& p = plans[i];
    for (const char* key : {"tp", "dp", "micro_batch", "sequence_parallel", "recompute",
                            "iteration_ms", "memory_gib", "fits", "mfu", "breakdown"}) {
      ASSERT_TRUE(p.has(key)) << "plan " << i << " lacks " << key;
    }
    EXPECT_EQ(p["tp"].num() * p["dp"].num(), 4);
    const Value& b = p["breakdown"];
    EXPECT_NEAR(b["compute_ms"].num() + b["tp_comm_ms"].num() + b["dp_comm_ms"].num() +
                    b["optimizer_ms"].num(),
                p["iteration_ms"].num(), 1e-9);
    if (i > 0 && p["fits"].boolean() == plans[i - 1]["fits"].boolean()) {
      EXPECT_LE(plans[i - 1]["iteration_ms"].num(), p["iteration_ms"].num());
    }
  }
}

TEST(CliPlan, GivenTpDpAndMicroBatchItEvaluatesThatPlanAlone) {
  const Value report = run_json(kSmall + "--tp 2 --dp 2 --micro-batch 1 --recompute selective");
  const auto& plans = report["plans"].arr();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0]["tp"].num(), 2);
  EXPECT_EQ(plans[0]["micro_batch"].num(), 1);
  EXPECT_FALSE(plans[0]["sequence_parallel"].boolean());
  EXPECT_EQ(plans[0]["recompute"].str(), "selective");
  // Per micro-batch, all_reduces only: forward 2 per layer (wo, w2), the token and position
  // embeddings' and the vocab-parallel loss's 3; backward 4 per layer (the inputs of q, k, v and
  // w1) and the output projection's input. 2 micro-batches; one DP bucket; selective recompute
  // re-runs no collective.
  std::map<std::string, std::int64_t> counts;
  for (const Value& c : plans[0]["collectives"].arr()) {
    counts[c["group"].str() + " " + c["phase"].str() + " " + c["kind"].str()] +=
        std::int64_t(c["count"].num());
  }
  EXPECT_EQ(counts,
            (std::map<std::string, std::int64_t>{{"tp forward all_reduce", 2 * (2 * 2 + 2 + 3)},
                                                 {"tp backward all_reduce", 2 * (4 * 2 + 1)},
                                                 {"dp backward all_reduce", 1}}));
}

TEST(CliPlan, TextReportShowsTheTableAndTheBestPlansCosts) {
  const Result r = run_cli(kSmall + "--tp 2 --micro-batch 2 --sequence-parallel");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* part :
       {"iteration_ms", "tp 2 x dp 2, micro-batch 2, sequence parallel", "compute", "tp comm",
        "dp comm", "optimizer", "memory per GPU", "activations", "collectives per step",
        "tp forward all_gather", "tp forward reduce_scatter", "dp backward all_reduce", "MFU"}) {
    EXPECT_THAT(r.out, HasSubstr(part));
  }
}

TEST(CliPlan, TraceIsTheTrainTraceFormatWithTheDpStreamAsATrack) {
  const std::string path = ::testing::TempDir() + "plan_trace.json";
  const Result r = run_cli(kSmall + "--tp 2 --dp 2 --micro-batch 1 --trace " + path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const Value trace = parse_json(text.str());
  int ops = 0, tp = 0, dp = 0;
  for (const Value& e : trace["traceEvents"].arr()) {
    if (e["ph"].str() != "X") continue;
    if (e["cat"].str() == "op") ++ops;
    if (e["cat"].str() == "collective") (e["pid"].num() == 1 ? dp : tp) += 1;
  }
  EXPECT_GT(ops, 0);
  EXPECT_GT(tp, 0);
  EXPECT_EQ(dp, 1);
  std::remove(path.c_str());
}

void expect_usage_error(const std::string& args, const std::string& message) {
  const Result r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
  EXPECT_THAT(r.out, HasSubstr(message)) << args;
}

TEST(CliPlan, BadInputIsAUsageErrorNamingTheFlag) {
  expect_usage_error(kSmall + "--tp 3", "--tp 3 does not divide --heads 2");
  expect_usage_error(kSmall + "--tp 2 --dp 1", "--gpus 4 is not --tp 2 x --dp 1");
  expect_usage_error(
      "plan --hardware no-such-gpu --gpus 4 --layers 2 --dim 24 --heads 2 --seq 6 "
      "--global-batch 4",
      "--hardware");
  expect_usage_error("plan --gpus 4 --layers 2 --dim 24 --heads 2 --seq 6 --global-batch 4",
                     "--hardware");
  expect_usage_error(
      "plan --hardware h100-sxm --gpus 4 --dim 24 --heads 2 --seq 6 "
      "--global-batch 4",
      "--layers");
  expect_usage_error(kSmall + "--recompute some", "--recompute");
  expect_usage_error(kSmall + "--dtype f16", "--dtype");
  expect_usage_error(kSmall + "--dropout 1.5", "--dropout 1.5 is not in [0, 1)");
  expect_usage_error(kSmall + "--dropout some", "--dropout needs a number");
}

// A model whose gradients fill several 25 MiB buckets (dim 1024, 4 layers: ~100 MB of bf16
// gradients) over 8 data-parallel ranks.
const std::string kBuckets =
    "plan --hardware a100-sxm4-80gb --gpus 8 --layers 4 --dim 1024 --heads 8 --seq 256 "
    "--vocab 1000 --global-batch 8 --tp 1 --dp 8 --micro-batch 1 ";

TEST(CliPlan, DropoutIsModelledAndDefaultsToTheGptRecipes) {
  const Value recipe = run_json(kBuckets)["plans"].arr()[0];
  const Value explicit_recipe = run_json(kBuckets + "--dropout 0.1")["plans"].arr()[0];
  const Value none = run_json(kBuckets + "--dropout 0")["plans"].arr()[0];
  EXPECT_DOUBLE_EQ(recipe["iteration_ms"].num(), explicit_recipe["iteration_ms"].num());
  // Dropout adds kernels (the masks and their use, forward and backward), nothing else.
  EXPECT_GT(recipe["breakdown"]["compute_ms"].num(), none["breakdown"]["compute_ms"].num());
  EXPECT_DOUBLE_EQ(recipe["breakdown"]["dp_comm_ms"].num(), none["breakdown"]["dp_comm_ms"].num());
}

TEST(CliPlan, OverlapGradReduceHidesAllButTheLastBucketsBehindBackward) {
  const Value after = run_json(kBuckets)["plans"].arr()[0];
  const Value overlapped = run_json(kBuckets + "--overlap-grad-reduce")["plans"].arr()[0];
  ASSERT_GT(after["dp_buckets"].arr().size(), 1u);
  EXPECT_DOUBLE_EQ(after["breakdown"]["compute_ms"].num(),
                   overlapped["breakdown"]["compute_ms"].num());
  EXPECT_GT(overlapped["breakdown"]["dp_comm_ms"].num(), 0);
  EXPECT_LT(overlapped["breakdown"]["dp_comm_ms"].num(), after["breakdown"]["dp_comm_ms"].num());
}

TEST(CliPlan, AProfileFileGivesWhatItsBuiltInTwinGives) {
  const std::string path = ::testing::TempDir() + "h100_copy.json";
  std::ofstream(path) << tensorpar::cost::hardware_to_json(
      tensorpar::cost::load_hardware("h100-sxm"));
  const std::string plan = "--tp 2 --dp 2 --micro-batch 2 --sequence-parallel";
  const Value builtin = run_json(kSmall + plan);
  const std::string from_file = "plan --hardware " + path +
                                " --gpus 4 --layers 2 --dim 24 --heads 2 --seq 6 --vocab 13 "
                                "--global-batch 4 " +
                                plan;
  const Value file = run_json(from_file);
  EXPECT_DOUBLE_EQ(file["plans"].arr()[0]["iteration_ms"].num(),
                   builtin["plans"].arr()[0]["iteration_ms"].num());
  std::remove(path.c_str());
}

TEST(CliPlan, AProfileFileThatDoesNotParseIsAUsageError) {
  const std::string path = ::testing::TempDir() + "broken_profile.json";
  std::ofstream(path) << "{\"name\": \"broken\", ";
  expect_usage_error("plan --hardware " + path +
                         " --gpus 4 --layers 2 --dim 24 --heads 2 --seq 6 --global-batch 4",
                     "--hardware");
  std::remove(path.c_str());
}

}  // namespace
