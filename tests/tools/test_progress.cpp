// The progress line of `tensorpar train` (tools/cli/progress.h): redrawn in place on a terminal,
// between steps too; lines every 10% of the steps (or every line_every) otherwise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tools/cli/args.h"
#include "tools/cli/progress.h"

namespace tensorpar::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// What a Progress wrote to its file, after finish().
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  std::fclose(f);
  return out;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

TEST(Progress, TheModeFollowsTheFlagTheTerminalAndJson) {
  EXPECT_EQ(progress_mode("auto", false, true), ProgressMode::Redraw);
  EXPECT_EQ(progress_mode("auto", true, true), ProgressMode::Redraw);  // stderr: JSON untouched
  EXPECT_EQ(progress_mode("auto", false, false), ProgressMode::Lines);
  EXPECT_EQ(progress_mode("auto", true, false), ProgressMode::Off);
  EXPECT_EQ(progress_mode("lines", true, true), ProgressMode::Lines);
  EXPECT_EQ(progress_mode("redraw", false, false), ProgressMode::Redraw);
  EXPECT_EQ(progress_mode("off", false, true), ProgressMode::Off);
  EXPECT_THROW(progress_mode("fancy", false, true), UsageError);
}

TEST(Progress, LinesComeEveryTenthOfTheSteps) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("train", 20, 16, nullptr, {.mode = ProgressMode::Lines, .out = f});
    for (int step = 0; step < 20; ++step) p.update(step, 3.5 - step * 0.1);
  }
  const std::string out = contents(f);
  EXPECT_EQ(count(out, "\n"), 10) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_THAT(out, HasSubstr("train      step  2/20  loss 3.4000  "));
  EXPECT_THAT(out, HasSubstr("train      step 20/20  loss 1.6000  "));
  EXPECT_THAT(out, HasSubstr(" tokens/s  elapsed 0:00  remaining 0:00\n"));
}

TEST(Progress, ALongStepStillGivesALineEveryLineInterval) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("train", 100, 16, nullptr,
               {.mode = ProgressMode::Lines, .out = f, .line_every = 40ms});
    p.update(0, 2.0);  // not a tenth of the run: no line of its own
    std::this_thread::sleep_for(300ms);
  }
  const std::string out = contents(f);
  EXPECT_GE(count(out, "train      step   1/100  loss 2.0000"), 3) << out;
}

TEST(Progress, OnATerminalOneLineIsRedrawnAfterEveryStepAndBetweenSteps) {
  std::FILE* f = std::tmpfile();
  const std::vector<double> reference = {2.5, 2.25};
  {
    Progress p("train", 2, 16, &reference,
               {.mode = ProgressMode::Redraw, .out = f, .redraw_every = 20ms});
    std::this_thread::sleep_for(200ms);  // before the first step: the clock still moves
    p.update(0, 2.5);
    p.update(1, 2.25);
  }
  const std::string out = contents(f);
  EXPECT_GE(count(out, "\r[........................] train      step 0/2  elapsed 0:00  "
                       "remaining ?\033[K"),
            3)
      << out;
  EXPECT_THAT(out, HasSubstr("\r[############............] train      step 1/2  loss 2.5000 "
                             "(ref 2.5000)  "));
  EXPECT_THAT(out, HasSubstr("\r[########################] train      step 2/2  loss 2.2500 "
                             "(ref 2.2500)  "));
  EXPECT_EQ(count(out, "\n"), 1);  // the line ends once, when the run does
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, AResumedRunCountsOnFromTheStepsBeforeIt) {
  // Resumed after step 10 for 2 steps: its steps are 11 and 12 of 12; the bar, the reference's
  // losses and the time left count this run's 2 steps.
  std::FILE* f = std::tmpfile();
  const std::vector<double> reference = {2.5, 2.25};
  {
    Progress p("train", 2, 16, &reference,
               {.mode = ProgressMode::Redraw, .out = f, .redraw_every = 20ms, .first_step = 10});
    std::this_thread::sleep_for(100ms);
    p.update(0, 2.5);
    p.update(1, 2.25);
  }
  const std::string out = contents(f);
  EXPECT_THAT(out, HasSubstr("\r[........................] train      step 10/12  elapsed 0:00  "
                             "remaining ?\033[K"));
  EXPECT_THAT(out, HasSubstr("\r[############............] train      step 11/12  loss 2.5000 "
                             "(ref 2.5000)  "));
  EXPECT_THAT(out, HasSubstr("\r[########################] train      step 12/12  loss 2.2500 "
                             "(ref 2.2500)  "));
  EXPECT_THAT(out, Not(HasSubstr("step 1/2")));
  EXPECT_THAT(out, Not(HasSubstr("step  1/")));
}

TEST(Progress, ResumedLinesComeEveryTenthOfThisRunsSteps) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("train", 20, 16, nullptr,
               {.mode = ProgressMode::Lines, .out = f, .first_step = 95});
    for (int step = 0; step < 20; ++step) p.update(step, 1.0);
  }
  const std::string out = contents(f);
  EXPECT_EQ(count(out, "\n"), 10) << out;
  EXPECT_THAT(out, HasSubstr("train      step  97/115  loss 1.0000  "));  // the widest number's width
  EXPECT_THAT(out, HasSubstr("train      step 115/115  loss 1.0000  "));
}

TEST(Progress, ARunStoppedEarlyEndsItsLineAndNanIsPrintedPlainly) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("train", 10, 16, nullptr, {.mode = ProgressMode::Redraw, .out = f});
    p.update(0, 2.0);
    p.update(1, std::nan(""));
    p.finish();
  }
  const std::string out = contents(f);
  EXPECT_THAT(out, HasSubstr("step  2/10  loss nan  "));
  EXPECT_EQ(out.find("-nan"), std::string::npos);
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, OffWritesNothing) {
  std::FILE* f = std::tmpfile();
  {
    Progress p("train", 3, 16, nullptr, {.mode = ProgressMode::Off, .out = f});
    for (int step = 0; step < 3; ++step) p.update(step, 1.0);
  }
  EXPECT_EQ(contents(f), "");
}

}  // namespace
}  // namespace tensorpar::cli
