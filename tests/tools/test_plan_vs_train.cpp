// The plans `tensorpar plan` ranks can be run: for the same configuration the collectives the
// model predicts per step (count and bytes by phase, tensor-parallel and data-parallel apart)
// are exactly those `tensorpar train --mesh dp=D,tp=T` issues. (Plan takes the vocab-parallel
// loss for tp > 1, so there train runs with --loss-parallel; both with f32 and no
// dropout, one micro-batch of B / D rows per dp rank.)
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>

#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace {

using tensorpar::cli_testing::parse_json;
using tensorpar::cli_testing::Result;
using tensorpar::cli_testing::run_cli;
using tensorpar::cli_testing::Value;

// (group "tp" | "dp", phase, kind) -> (count, bytes)
using Totals = std::map<std::tuple<std::string, std::string, std::string>,
                        std::pair<std::int64_t, std::int64_t>>;

Value run_json(const std::string& args) {
  const Result r = run_cli(args + " --json", /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  return parse_json(r.out);
}

Totals predicted(const Value& plan) {
  Totals out;
  for (const Value& c : plan["collectives"].arr()) {
    auto& t = out[{c["group"].str(), c["phase"].str(), c["kind"].str()}];
    t.first += static_cast<std::int64_t>(c["count"].num());
    t.second += static_cast<std::int64_t>(c["bytes"].num());
  }
  return out;
}

// One step's collectives of rank 0 from train's report. Bytes per phase are reported per group
// kind, so a phase with two kinds of collective in one group cannot be split: the test models
// keep one kind per (group, phase), which the assertion below checks.
Totals issued(const Value& report) {
  Totals out;
  for (const char* group : {"tp", "dp"}) {
    const Value& counts = report[std::string("comm_") + group];
    const Value& bytes = report[std::string("comm_") + group + "_bytes"];
    for (const char* phase : {"forward", "backward", "optimizer"}) {
      const auto& kinds = counts[phase].obj();
      if (kinds.empty()) continue;
      EXPECT_EQ(kinds.size(), 1u) << group << " " << phase;
      const auto& [kind, n] = *kinds.begin();
      out[{group, phase, kind}] = {static_cast<std::int64_t>(n.num()),
                                   static_cast<std::int64_t>(bytes[phase].num())};
    }
  }
  return out;
}

void expect_plan_predicts_train(int dp, int tp, int batch, const std::string& extra) {
  const std::string model = "--layers 2 --dim 16 --heads 4 --vocab 32 --seq 8 ";
  const Value plan =
      run_json("plan --hardware h100-sxm --gpus " + std::to_string(dp * tp) + " " + model +
               "--global-batch " + std::to_string(batch) + " --tp " + std::to_string(tp) +
               " --dp " + std::to_string(dp) + " --micro-batch " + std::to_string(batch / dp) +
               " --dtype f32 --dropout 0 " + extra);
  const Value train =
      run_json("train " + model + "--batch " + std::to_string(batch) +
               " --steps 1 --mesh dp=" + std::to_string(dp) + ",tp=" + std::to_string(tp) +
               (tp > 1 ? " --loss-parallel " : " ") + extra);
  ASSERT_EQ(plan["plans"].arr().size(), 1u);
  const Totals want = issued(train);
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(predicted(plan["plans"].arr()[0]), want) << "dp " << dp << " tp " << tp << extra;
}

TEST(PlanVsTrain, Dp2Tp2CollectivesPerStepAreThoseTrainIssues) {
  expect_plan_predicts_train(2, 2, 8, "");
}

TEST(PlanVsTrain, Dp3Tp2CollectivesPerStepAreThoseTrainIssues) {
  expect_plan_predicts_train(3, 2, 6, "");
}

TEST(PlanVsTrain, Dp2Tp1IsDataParallelAlone) { expect_plan_predicts_train(2, 1, 4, ""); }
}  // namespace
