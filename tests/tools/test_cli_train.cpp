// `tensorpar train`, run as a user would: the --json report (losses against the single-device
// reference, collectives per step and phase), the --trace file, progress and bad flags.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace {

using tensorpar::cli_testing::Result;
using tensorpar::cli_testing::run_cli;

using tensorpar::cli_testing::parse_json;
using tensorpar::cli_testing::Value;

std::map<std::string, int> counts(const Value& phase) {
  std::map<std::string, int> out;
  for (const auto& [name, n] : phase.obj()) out[name] = static_cast<int>(n.num());
  return out;
}

using ::testing::HasSubstr;
using ::testing::Not;
using Counts = std::map<std::string, int>;

// Small shapes: 2 layers, 4 heads of 4, vocab 32, 2 x 8 tokens per step.
const std::string kSmall = "train --layers 2 --dim 16 --heads 4 --vocab 32 --seq 8 --batch 2 ";

Value run_json(const std::string& args) {
  const Result r = run_cli(args + " --json", /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  return parse_json(r.out);
}

void expect_verified(const Value& report, int steps, double tolerance) {
  ASSERT_EQ(report["steps"].arr().size(), static_cast<std::size_t>(steps));
  for (int i = 0; i < steps; ++i) {
    const Value& s = report["steps"].arr()[i];
    EXPECT_EQ(s["step"].num(), i + 1);
    ASSERT_TRUE(s["loss"].is_number() && s["ref_loss"].is_number());
    EXPECT_NEAR(s["loss"].num(), s["ref_loss"].num(), tolerance) << "step " << i + 1;
  }
  EXPECT_LE(report["max_abs_loss_diff"].num(), tolerance);
  EXPECT_TRUE(report["verified"].boolean());
}

TEST(CliTrain, MatchesTheSingleDeviceRunWithThePlansCollectivesPerStep) {
  const Value r = run_json(kSmall + "--world 4 --steps 3 --dtype f64");
  EXPECT_EQ(r["world"].num(), 4);
  expect_verified(r, 3, 1e-9);
  EXPECT_EQ(counts(r["comm"]["forward"]), (Counts{{"all_reduce", 6}, {"all_gather", 1}}));
  EXPECT_EQ(counts(r["comm"]["backward"]), (Counts{{"all_reduce", 9}}));
  EXPECT_EQ(counts(r["comm"]["optimizer"]), Counts{});
  EXPECT_TRUE(r["comm_uniform"].boolean());
  EXPECT_GT(r["tokens_per_s"].num(), 0);
  // The loss falls on the synthetic task.
  EXPECT_LT(r["steps"].arr()[2]["loss"].num(), r["steps"].arr()[0]["loss"].num());
}

TEST(CliTrain, SequenceParallelCountsPerStep) {
  const Value r = run_json(kSmall + "--world 4 --steps 2 --dtype f64 --sequence-parallel");
  expect_verified(r, 2, 1e-9);
  EXPECT_EQ(counts(r["comm"]["forward"]), (Counts{{"reduce_scatter", 6}, {"all_gather", 6}}));
  EXPECT_EQ(counts(r["comm"]["backward"]), (Counts{{"reduce_scatter", 5}, {"all_gather", 6}}));
  // One all_reduce per Partial norm gradient: 2 per block and the final norm, weight and bias.
  const Counts optimizer = counts(r["comm"]["optimizer"]);
  ASSERT_EQ(optimizer.size(), 1u);
  EXPECT_GE(optimizer.at("all_reduce"), 1);
  EXPECT_LE(optimizer.at("all_reduce"), 10);
}

TEST(CliTrain, LossParallelReplacesTheLogitsGatherByThreeAllReduces) {
  const Value r = run_json(kSmall + "--world 4 --steps 2 --dtype f64 --loss-parallel");
  expect_verified(r, 2, 1e-9);
  EXPECT_EQ(counts(r["comm"]["forward"]), (Counts{{"all_reduce", 9}}));
  EXPECT_EQ(counts(r["comm"]["backward"]), (Counts{{"all_reduce", 9}}));
}

TEST(CliTrain, DropoutMatchesTheSingleDeviceRun) {
  const Value r = run_json(kSmall + "--world 4 --steps 3 --dtype f64 --dropout 0.2");
  expect_verified(r, 3, 1e-9);
  // Dropout changes the losses: the comparison is not of two dropout-free runs.
  const Value plain = run_json(kSmall + "--world 4 --steps 1 --dtype f64 --no-compare");
  EXPECT_GT(std::abs(r["steps"].arr()[0]["loss"].num() - plain["steps"].arr()[0]["loss"].num()),
            1e-6);
}

TEST(CliTrain, OddWorldWithShapesDivisibleByThree) {
  const std::string shapes = "train --layers 2 --dim 24 --heads 3 --vocab 30 --seq 9 --batch 2 ";
  for (const char* extra : {"", "--sequence-parallel", "--loss-parallel"}) {
    const Value r = run_json(shapes + "--world 3 --steps 2 --dtype f64 " + extra);
    EXPECT_EQ(r["world"].num(), 3) << extra;
    expect_verified(r, 2, 1e-9);
  }
}

TEST(CliTrain, SequenceParallelWithUnevenSequenceAndDropoutMatchesSingleDevice) {
  // 10 positions on 3 ranks: 4, 4, 2. The residual stream stays a DTensor, so the shards keep
  // their global shape and dropout draws by global position.
  const std::string shapes = "train --layers 2 --dim 24 --heads 3 --vocab 30 --seq 10 --batch 2 ";
  const Value r = run_json(shapes + "--world 3 --steps 2 --dtype f64 --dropout 0.2 "
                                    "--sequence-parallel");
  expect_verified(r, 2, 1e-9);
}

TEST(CliTrain, Float32WithSgdIsVerifiedAgainstTheScaledTolerance) {
  const Value r = run_json(kSmall + "--world 2 --steps 3 --optimizer sgd --lr 0.05");
  EXPECT_EQ(r["optimizer"].str(), "sgd");
  EXPECT_EQ(r["model"]["dtype"].str(), "float32");
  EXPECT_EQ(r["tolerance"].num(), 1e-3);
  expect_verified(r, 3, 1e-3 * r["steps"].arr()[0]["ref_loss"].num());
}

TEST(CliTrain, TheSameSeedGivesTheSameRunAndAnotherSeedAnother) {
  const Value a = run_json(kSmall + "--world 2 --steps 2 --seed 7 --no-compare");
  const Value b = run_json(kSmall + "--world 2 --steps 2 --seed 7 --no-compare");
  const Value c = run_json(kSmall + "--world 2 --steps 2 --seed 8 --no-compare");
  EXPECT_EQ(a["steps"].arr()[1]["loss"].num(), b["steps"].arr()[1]["loss"].num());
  EXPECT_NE(a["steps"].arr()[1]["loss"].num(), c["steps"].arr()[1]["loss"].num());
}

TEST(CliTrain, NoCompareSkipsTheReference) {
  const Result r = run_cli(kSmall + "--world 2 --steps 2 --no-compare --json", true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const Value v = parse_json(r.out);
  EXPECT_FALSE(v["compared"].boolean());
  EXPECT_TRUE(v["steps"].arr()[0]["ref_loss"].is_null());
  EXPECT_TRUE(v["max_abs_loss_diff"].is_null());
  EXPECT_FALSE(v["verified"].boolean());
}

TEST(CliTrain, TimeSplitAccountsForOpsAndCollectives) {
  const Value r = run_json(kSmall + "--world 2 --steps 2");
  const Value& t = r["time_per_step"];
  for (const char* phase : {"forward", "backward"}) {
    EXPECT_GT(t[phase]["ops_s"].num(), 0) << phase;
    EXPECT_GT(t[phase]["collectives_s"].num(), 0) << phase;
    EXPECT_LE(t[phase]["ops_s"].num() + t[phase]["collectives_s"].num(),
              t[phase]["wall_s"].num() * 1.001)
        << phase;
  }
  EXPECT_EQ(t["optimizer"]["collectives_s"].num(), 0);  // nothing to reduce without SP
  bool linear = false;
  double shares = 0;
  for (const Value& op : r["top_ops"].arr()) {
    linear = linear || op["op"].str().rfind("linear", 0) == 0;
    shares += op["share"].num();
  }
  EXPECT_TRUE(linear);
  EXPECT_LE(shares, 1.0 + 1e-9);
}

TEST(CliTrain, TraceHasOneTrackPerRankWithOpsAndCollectivesWithBytes) {
  const std::string path = ::testing::TempDir() + "tensorpar_train_trace.json";
  std::remove(path.c_str());
  const Result r = run_cli(kSmall + "--world 3 --heads 3 --dim 12 --steps 2 --trace " + path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("trace: " + path));
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  std::stringstream text;
  text << file.rdbuf();
  const Value trace = parse_json(text.str());

  std::map<int, std::set<std::string>> named;          // pid -> process_name
  std::map<int, std::map<std::string, int>> per_rank;  // pid -> category -> events
  for (const Value& e : trace["traceEvents"].arr()) {
    const int pid = static_cast<int>(e["pid"].num());
    EXPECT_EQ(e["tid"].num(), pid);
    if (e["ph"].str() == "M") {
      if (e["name"].str() == "process_name") named[pid].insert(e["args"]["name"].str());
      continue;
    }
    ASSERT_EQ(e["ph"].str(), "X");
    EXPECT_GE(e["ts"].num(), 0);
    EXPECT_GE(e["dur"].num(), 0);
    const std::string cat = e["cat"].str();
    ++per_rank[pid][cat];
    if (cat == "collective") {
      EXPECT_GT(e["args"]["bytes"].num(), 0) << e["name"].str();
      EXPECT_TRUE(e["args"].has("phase"));
    }
    if (cat == "op") {
      EXPECT_FALSE(e["args"].has("bytes"));
    }
  }
  ASSERT_EQ(named.size(), 3u);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(named[rank], std::set<std::string>{"rank " + std::to_string(rank)});
    // 16 collectives per step without sequence parallel (7 forward, 9 backward), 2 steps.
    EXPECT_EQ(per_rank[rank]["collective"], 32) << rank;
    EXPECT_GT(per_rank[rank]["op"], 32) << rank;
    EXPECT_EQ(per_rank[rank]["step"], 2) << rank;
  }
  std::remove(path.c_str());
}

TEST(CliTrain, HumanReportShowsCurveCollectivesTimeAndThroughput) {
  const Result r = run_cli(kSmall + "--world 2 --steps 4");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("loss curve"));
  EXPECT_THAT(r.out, HasSubstr("verified"));
  EXPECT_THAT(r.out, HasSubstr("forward          7"));
  EXPECT_THAT(r.out, HasSubstr("all_gather 1, all_reduce 6"));
  EXPECT_THAT(r.out, HasSubstr("backward         9"));
  EXPECT_THAT(r.out, HasSubstr("where time went"));
  EXPECT_THAT(r.out, HasSubstr("tokens/s"));
}

TEST(CliTrain, WithoutATerminalProgressIsALineEveryTenthOfTheRun) {
  const Result r = run_cli(kSmall + "--world 2 --steps 20");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  int lines = 0;
  for (std::size_t at = 0; (at = r.out.find("train      step", at)) != std::string::npos; ++at) {
    ++lines;
  }
  EXPECT_EQ(lines, 10);
  EXPECT_THAT(r.out, HasSubstr("train      step 20/20"));
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
}

TEST(CliTrain, JsonModePrintsOnlyOneJsonObject) {
  const Result r = run_cli(kSmall + "--world 2 --steps 3 --json");  // stderr included
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.front(), '{');
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1);
  EXPECT_NO_THROW(parse_json(r.out));
}

TEST(CliTrain, BadFlagsGiveAUsageErrorAndExitTwo) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train --bogus", "unknown option '--bogus'"},
      {"train --world 0", "--world 0 is out of range"},
      {"train --world four", "--world needs an integer, got 'four'"},
      {"train --steps 2x", "--steps needs an integer, got '2x'"},
      {"train --heads 4 --world 3", "--heads 4 is not divisible by --world 3"},
      {"train --dim 30 --heads 4", "--dim 30 is not divisible by --heads 4"},
      {"train --optimizer rmsprop", "--optimizer must be adam or sgd"},
      {"train --dtype bf16", "--dtype must be f32 or f64"},
      {"train --dropout 1.5", "--dropout 1.5 is not in [0, 1)"},
      {"train --lr -1", "--lr must be positive"},
      {"train --trace", "--trace needs a value"},
  };
  for (const auto& [args, message] : cases) {
    const Result r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr(message)) << args;
    EXPECT_THAT(r.out, HasSubstr("usage: tensorpar train")) << args;
  }
}

// ---- reliability: non-finite losses, output and trace files, memory, progress ----

TEST(CliTrain, ANonFiniteLossStopsBothRunsAtItsStepAndSaysSo) {
  // Adam with lr 1e300 overflows the weights in the first update: step 2's losses are nan.
  const Result r = run_cli(kSmall + "--world 3 --heads 3 --dim 12 --steps 6 --lr 1e300 --json",
                           /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  const Value json = parse_json(r.out);
  ASSERT_EQ(json["steps"].arr().size(), 2u);  // stopped at step 2 of 6
  EXPECT_TRUE(json["steps"].arr()[1]["loss"].is_null());
  EXPECT_FALSE(json["loss_finite"].boolean());
  EXPECT_EQ(json["non_finite_loss"]["train"]["step"].num(), 2);
  EXPECT_EQ(json["non_finite_loss"]["train"]["loss"].str(), "nan");
  EXPECT_EQ(json["non_finite_loss"]["reference"]["step"].num(), 2);
  EXPECT_FALSE(json["verified"].boolean());
  // The one step both runs finished with finite losses is still compared.
  EXPECT_LE(json["max_abs_loss_diff"].num(), 1e-3);
  // The agreement between the ranks is not one of the step's collectives.
  EXPECT_EQ(counts(json["comm"]["forward"]), (Counts{{"all_gather", 1}, {"all_reduce", 6}}));
  EXPECT_EQ(counts(json["comm"]["backward"]), (Counts{{"all_reduce", 9}}));

  const Result text = run_cli(kSmall + "--world 3 --heads 3 --dim 12 --steps 6 --lr 1e300");
  EXPECT_EQ(text.exit_code, 1) << text.out;
  EXPECT_THAT(text.out, HasSubstr("loss is nan at step 2 (train) / nan (reference): training "
                                  "stopped there"));
  EXPECT_THAT(text.out, HasSubstr("tensorpar train: loss is nan at step 2 (train) / nan "
                                  "(reference); training stopped there"));
  EXPECT_THAT(text.out, HasSubstr("2 steps in"));
  EXPECT_EQ(text.out.find("-nan"), std::string::npos) << text.out;
}

TEST(CliTrain, ANonFiniteLossFailsWithoutAReferenceToo) {
  const Result r = run_cli(kSmall + "--world 2 --steps 8 --optimizer sgd --lr 1e30 --no-compare");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("loss is nan at step 2 (train): training stopped there"));
  EXPECT_THAT(r.out, Not(HasSubstr("(reference)")));
}

TEST(CliTrain, AnUnwritableTraceIsRefusedBeforeTraining) {
  const Result r = run_cli(kSmall + "--world 2 --steps 2 --trace /nonexistent-dir/trace.json");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--trace /nonexistent-dir/trace.json: cannot open it for "
                               "writing: No such file or directory"));
  EXPECT_THAT(r.out, Not(HasSubstr("step 1/2")));  // nothing trained
}

TEST(CliTrain, SizesPastTheMachinesMemoryAreRefusedUpFront) {
  const Result r = run_cli("train --batch 65536 --seq 65536");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--seq 65536 --batch 65536 (float32, adam) needs at least "
                               "8.0 PiB of memory, more than this machine's "));
  EXPECT_THAT(r.out, HasSubstr("attention probabilities (layers x batch x heads x seq^2): "
                               "8.0 PiB"));
  EXPECT_THAT(r.out, Not(HasSubstr("bad_alloc")));
}

TEST(CliTrain, AReportThatCannotBeWrittenFails) {
  const Result r = tensorpar::cli_testing::run_cli_stdout_to(kSmall + "--world 2 --steps 2 --json",
                                                  "/dev/full");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("tensorpar train: cannot write to standard output: No space "
                               "left on device"));
}

TEST(CliTrain, ProgressFlagChoosesLinesOrNothing) {
  const Result off = run_cli(kSmall + "--world 2 --steps 4 --progress off");
  ASSERT_EQ(off.exit_code, 0) << off.out;
  EXPECT_THAT(off.out, Not(HasSubstr("step 1/4")));
  const Result lines = run_cli(kSmall + "--world 2 --steps 4 --json --progress lines");
  ASSERT_EQ(lines.exit_code, 0) << lines.out;
  EXPECT_THAT(lines.out, HasSubstr("train      step 4/4  loss "));
  EXPECT_THAT(lines.out, HasSubstr("  elapsed 0:0"));
  const Result bad = run_cli("train --progress fancy");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_THAT(bad.out, HasSubstr("--progress must be auto, redraw, lines or off, got 'fancy'"));
}

// Runs the binary on a pseudo-terminal, as from an interactive shell: everything it wrote.
Result run_on_terminal(const std::string& args) {
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) return {-1, "forkpty failed"};
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", (std::string(TENSORPAR_CLI_PATH) + " " + args).c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(master, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(master);  // read ends with EIO once the child has exited and closed the terminal
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(CliTrain, OnATerminalProgressIsOneLineRedrawnInPlace) {
  const Result r = run_on_terminal(kSmall + "--world 2 --steps 12");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (int step = 1; step <= 12; ++step) {
    EXPECT_THAT(r.out, HasSubstr("] train      step " + std::string(step < 10 ? " " : "") +
                                 std::to_string(step) + "/12  loss "))
        << step;
  }
  EXPECT_THAT(r.out, HasSubstr("\r[########################] train      step 12/12"));
  EXPECT_THAT(r.out, HasSubstr("remaining 0:00\033[K"));
  EXPECT_THAT(r.out, HasSubstr("verified"));
  // With --json the progress goes to the terminal (stderr), never into the JSON (stdout).
  const std::string path = ::testing::TempDir() + "tensorpar_train_terminal.json";
  const Result json = run_on_terminal(kSmall + "--world 2 --steps 3 --json > " + path);
  ASSERT_EQ(json.exit_code, 0) << json.out;
  EXPECT_THAT(json.out, HasSubstr("\r[########################] train      step 3/3"));
  std::ifstream file(path);
  std::stringstream report;
  report << file.rdbuf();
  ASSERT_FALSE(report.str().empty());
  EXPECT_EQ(report.str().front(), '{');
  EXPECT_NO_THROW(parse_json(report.str()));
  std::remove(path.c_str());
}

TEST(CliTrain, IsListedFirstInTheCommandList) {
  const Result r = run_cli("--help");
  EXPECT_EQ(r.exit_code, 0);
  const auto commands = r.out.find("commands:");
  ASSERT_NE(commands, std::string::npos);
  EXPECT_EQ(r.out.find("  train  ", commands), r.out.find("  ", commands + 9));
}

}  // namespace
