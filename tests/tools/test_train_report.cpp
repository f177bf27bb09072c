// What `tensorpar train` concludes from a run's losses (tools/cli/train_report.h): where a run
// stopped on a loss that is not finite, and what is compared then.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "tools/cli/train_report.h"

namespace tensorpar::cli {
namespace {

using ::testing::HasSubstr;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A run of `ranks` ranks with these losses (every rank the same), and the reference's.
TrainResult result(const std::vector<double>& losses, const std::vector<double>& reference,
                   int ranks = 3) {
  TrainResult r;
  r.config.world = ranks;
  r.config.steps = 6;
  r.reference = reference;
  for (int i = 0; i < ranks; ++i) {
    RankRun run;
    run.losses = losses;
    run.times.assign(losses.size(), PhaseTimes{0.1, 0.2, 0.3});
    run.comm.assign(losses.size(), StepComm{});
    r.ranks.push_back(run);
  }
  r.wall_s = 1.0;
  return r;
}

TEST(TrainReport, FiniteRunsWithinTheToleranceAreVerified) {
  const TrainSummary s = summarize(result({3.0, 2.0, 1.0}, {3.0, 2.0 + 0x1p-11, 1.0}));
  EXPECT_TRUE(s.verified);  // 2^-11 = 4.9e-4, within 1e-3 x max(1, 2)
  EXPECT_EQ(*s.max_abs_loss_diff, 0x1p-11);
  EXPECT_EQ(non_finite_message(s), "");
}

TEST(TrainReport, BothRunsStoppingAtTheSameStepNameItOnce) {
  const TrainSummary s = summarize(result({3.0, kNan}, {3.0, kInf}));
  ASSERT_TRUE(s.train_non_finite && s.reference_non_finite);
  EXPECT_EQ(s.train_non_finite->step, 2);
  EXPECT_EQ(non_finite_message(s), "loss is nan at step 2 (train) / inf (reference)");
  EXPECT_FALSE(s.verified);
  EXPECT_DOUBLE_EQ(*s.max_abs_loss_diff, 0.0);  // step 1, the only one with finite losses
}

TEST(TrainReport, RunsStoppingAtDifferentStepsNameBoth) {
  const TrainSummary s = summarize(result({3.0, 2.0, -kInf}, {3.0, kNan}));
  EXPECT_EQ(non_finite_message(s), "loss is -inf at step 3 (train) / nan at step 2 (reference)");
  EXPECT_FALSE(s.verified);
}

TEST(TrainReport, AReferenceThatStopsAloneFailsAFiniteRun) {
  const TrainSummary s = summarize(result({3.0, 2.0, 1.0}, {3.0, kInf}));
  EXPECT_EQ(non_finite_message(s), "loss is inf at step 2 (reference)");
  EXPECT_FALSE(s.verified);
  // Throughput counts the steps trained: 3 steps of 8 x 32 tokens in 1 s.
  EXPECT_DOUBLE_EQ(s.tokens_per_s, 3.0 * 8 * 32);
}

TEST(TrainReport, ANanAtTheFirstStepLeavesNothingToCompare) {
  const TrainSummary s = summarize(result({kNan}, {kNan}));
  EXPECT_FALSE(s.max_abs_loss_diff.has_value());
  EXPECT_FALSE(s.verified);
  const Json json = summary_json(result({kNan}, {kNan}), s);
  EXPECT_THAT(json.str(), ::testing::HasSubstr("\"max_abs_loss_diff\":null,\"loss_finite\":false,"
                                               "\"non_finite_loss\":{\"train\":{\"step\":1,"
                                               "\"loss\":\"nan\"},\"reference\":{\"step\":1,"
                                               "\"loss\":\"nan\"}}"));
}

TEST(TrainReport, TheTextReportSaysWhereTrainingStopped) {
  const TrainResult r = result({3.0, kNan}, {3.0, 2.5, 2.0});
  std::ostringstream os;
  print_summary(os, r, summarize(r));
  EXPECT_THAT(os.str(), ::testing::HasSubstr("loss is nan at step 2 (train): training stopped "
                                             "there (try a smaller --lr)"));
  EXPECT_THAT(os.str(), ::testing::HasSubstr("      2       nan    2.5000"));
  EXPECT_THAT(os.str(), ::testing::HasSubstr("      3         -    2.0000         -"));
  EXPECT_THAT(os.str(), ::testing::HasSubstr("2 steps in"));
}

// A run resumed after step `first_step` (tensorpar train --load): its steps carry the numbers
// the uninterrupted run gives them.
TrainResult resumed(std::int64_t first_step, const std::vector<double>& losses,
                    const std::vector<double>& reference) {
  TrainResult r = result(losses, reference);
  for (RankRun& run : r.ranks) run.first_step = first_step;
  return r;
}

TEST(TrainReport, AResumedRunNumbersItsStepsFromTheSavedStep) {
  const TrainResult r = resumed(10, {3.0, 2.0, 1.0}, {3.0, 2.0, 1.0});
  EXPECT_EQ(r.ranks[0].step_number(0), 11);
  const TrainSummary s = summarize(r);
  EXPECT_TRUE(s.verified);
  const Json json = summary_json(r, s);
  EXPECT_THAT(json.str(), HasSubstr("\"steps\":[{\"step\":11,\"loss\":3,\"ref_loss\":3},"
                                    "{\"step\":12,\"loss\":2,\"ref_loss\":2},"
                                    "{\"step\":13,\"loss\":1,\"ref_loss\":1}]"));
  std::ostringstream os;
  print_summary(os, r, s);
  EXPECT_THAT(os.str(), HasSubstr("\n     11    3.0000    3.0000   0.0e+00\n"
                                  "     12    2.0000    2.0000   0.0e+00\n"
                                  "     13    1.0000    1.0000   0.0e+00\n"));
  EXPECT_THAT(os.str(), HasSubstr("3 steps in"));  // the steps of this run
}

TEST(TrainReport, AResumedRunSaysTheTrueStepWhereItStopped) {
  const TrainResult r = resumed(10, {3.0, kNan}, {3.0, 2.5, kInf});
  const TrainSummary s = summarize(r);
  ASSERT_TRUE(s.train_non_finite && s.reference_non_finite);
  EXPECT_EQ(s.train_non_finite->step, 12);
  EXPECT_EQ(s.reference_non_finite->step, 13);
  EXPECT_EQ(non_finite_message(s), "loss is nan at step 12 (train) / inf at step 13 (reference)");
  EXPECT_THAT(summary_json(r, s).str(),
              HasSubstr("\"non_finite_loss\":{\"train\":{\"step\":12,\"loss\":\"nan\"},"
                        "\"reference\":{\"step\":13,\"loss\":\"inf\"}}"));
  std::ostringstream os;
  print_summary(os, r, s);
  EXPECT_THAT(os.str(), HasSubstr("loss is nan at step 12 (train) / inf at step 13 (reference): "
                                  "training stopped there"));
  EXPECT_THAT(os.str(), HasSubstr("\n     13         -       inf         -\n"));
}

}  // namespace
}  // namespace tensorpar::cli
