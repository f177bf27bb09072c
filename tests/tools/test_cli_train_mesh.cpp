// `tensorpar train --mesh dp=D,tp=T`, run as a user would: a 2-D data x tensor parallel run
// verified against the single-device run (also when D does not divide the batch), its
// collectives per step split into the tp groups' and the dp group's, and the usage errors of
// --mesh.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "support/temp_folder.h"
#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace {

using tensorpar::cli_testing::parse_json;
using tensorpar::cli_testing::Result;
using tensorpar::cli_testing::run_cli;
using tensorpar::cli_testing::Value;
using ::testing::HasSubstr;
using Counts = std::map<std::string, int>;

Counts counts(const Value& phase) {
  Counts out;
  for (const auto& [name, n] : phase.obj()) out[name] = static_cast<int>(n.num());
  return out;
}

// 2 layers, 4 heads of 4, vocab 32, 8 x 8 tokens per step, float64.
const std::string kModel =
    "train --layers 2 --dim 16 --heads 4 --vocab 32 --seq 8 --batch 8 --steps 3 --dtype f64 ";

Value run_json(const std::string& args) {
  const Result r = run_cli(args + " --json", /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  return parse_json(r.out);
}

void expect_verified(const Value& report) {
  EXPECT_TRUE(report["verified"].boolean());
  EXPECT_LE(report["max_abs_loss_diff"].num(), 1e-9);
  ASSERT_EQ(report["steps"].arr().size(), 3u);
  for (const Value& s : report["steps"].arr()) {
    EXPECT_NEAR(s["loss"].num(), s["ref_loss"].num(), 1e-9 * std::max(1.0, s["ref_loss"].num()));
  }
}

TEST(CliTrainMesh, Dp2Tp2MatchesTheSingleDeviceRunWithTpAndDpCollectivesApart) {
  const Value r = run_json(kModel + "--mesh dp=2,tp=2");
  expect_verified(r);
  EXPECT_EQ(r["world"].num(), 4);
  EXPECT_EQ(r["mesh"]["dp"].num(), 2);
  EXPECT_EQ(r["mesh"]["tp"].num(), 2);
  // The tp groups: the 1-D plan's counts. The dp group: one 25 MiB bucket in backward, 3648
  // local float64 gradient elements per rank (tests/tools/test_train_run.cpp derives them).
  EXPECT_EQ(counts(r["comm_tp"]["forward"]), (Counts{{"all_gather", 1}, {"all_reduce", 6}}));
  EXPECT_EQ(counts(r["comm_tp"]["backward"]), (Counts{{"all_reduce", 9}}));
  EXPECT_EQ(counts(r["comm_tp"]["optimizer"]), Counts{});
  EXPECT_EQ(counts(r["comm_dp"]["forward"]), Counts{});
  EXPECT_EQ(counts(r["comm_dp"]["backward"]), (Counts{{"all_reduce", 1}}));
  EXPECT_EQ(counts(r["comm_dp"]["optimizer"]), Counts{});
  EXPECT_EQ(r["comm_dp_bytes"]["backward"].num(), 3648 * 8);
  EXPECT_EQ(r["comm_dp_bytes"]["forward"].num(), 0);
  EXPECT_EQ(counts(r["comm"]["backward"]), (Counts{{"all_reduce", 10}}));
  EXPECT_EQ(r["comm_bytes"]["backward"].num(),
            r["comm_tp_bytes"]["backward"].num() + r["comm_dp_bytes"]["backward"].num());
  EXPECT_TRUE(r["comm_uniform"].boolean());
  // Each tp group runs the 1-D step on its half of the batch: the 1-D run with --batch 4.
  const Value half = run_json(
      "train --layers 2 --dim 16 --heads 4 --vocab 32 --seq 8 --batch 4 --steps 1 --dtype f64 "
      "--world 2");
  for (const char* phase : {"forward", "backward", "optimizer"}) {
    EXPECT_EQ(r["comm_tp_bytes"][phase].num(), half["comm_bytes"][phase].num()) << phase;
  }
}

TEST(CliTrainMesh, Dp3Tp2SplitsTheBatchUnevenlyAndMatchesTheSingleDeviceRun) {
  const Value r = run_json(kModel + "--mesh dp=3,tp=2");  // rows 3, 3, 2
  expect_verified(r);
  EXPECT_EQ(r["world"].num(), 6);
  EXPECT_EQ(counts(r["comm_dp"]["backward"]), (Counts{{"all_reduce", 1}}));
  EXPECT_EQ(r["comm_dp_bytes"]["backward"].num(), 3648 * 8);
  // The last dp row's tp groups move 2 rows' activations, the others 3: not uniform.
  EXPECT_FALSE(r["comm_uniform"].boolean());
}

TEST(CliTrainMesh, OneDimensionalShapesOfTheMeshMatchTheSingleDeviceRun) {
  const Value tp_only = run_json(kModel + "--mesh dp=1,tp=4");
  expect_verified(tp_only);
  EXPECT_EQ(counts(tp_only["comm_tp"]["backward"]), (Counts{{"all_reduce", 9}}));
  const Value dp_only = run_json(kModel + "--mesh dp=4,tp=1");
  expect_verified(dp_only);
  EXPECT_EQ(counts(dp_only["comm_tp"]["forward"]), Counts{});  // one-rank tp groups: none
  EXPECT_EQ(counts(dp_only["comm_dp"]["backward"]), (Counts{{"all_reduce", 1}}));
  const Value agreeing = run_json(kModel + "--mesh tp=2,dp=2 --world 4");
  expect_verified(agreeing);
  EXPECT_EQ(agreeing["mesh"]["dp"].num(), 2);
}

TEST(CliTrainMesh, WithoutMeshTheWorldIsOneTensorParallelDim) {
  const Value r = run_json(kModel + "--world 2");
  EXPECT_TRUE(r["mesh"].is_null());
  EXPECT_EQ(counts(r["comm_dp"]["backward"]), Counts{});
  EXPECT_EQ(counts(r["comm_tp"]["backward"]), (Counts{{"all_reduce", 9}}));
}

TEST(CliTrainMesh, TheTextReportNamesTheMeshAndTheDataParallelCollectives) {
  const Result r = run_cli(kModel + "--mesh dp=2,tp=2 --progress off", /*stdout_only=*/true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("2-D mesh dp 2 x tp 2 (4 simulated ranks)"));
  EXPECT_THAT(r.out, HasSubstr("of which data parallel (the dp group's gradient buckets):"));
  EXPECT_THAT(r.out, HasSubstr("backward         1    28.5 KiB  all_reduce 1"));
  EXPECT_THAT(r.out, HasSubstr("mesh dp 2 x tp 2)"));
}

std::vector<double> losses(const Value& report) {
  std::vector<double> out;
  for (const Value& s : report["steps"].arr()) out.push_back(s["loss"].num());
  return out;
}

// A checkpoint holds each shard once (the dp replicas write it from the lowest rank): saved on a
// 2-D mesh it resumes on a 1-D one or another 2-D one, and the other way round, on the losses of
// an uninterrupted run.
TEST(CliTrainMesh, CheckpointsMoveBetweenMeshShapes) {
  const tensorpar::testing::TempFolder folder;
  const std::string from_2d = folder / "from_2d", from_1d = folder / "from_1d";
  const std::vector<double> whole = losses(run_json(kModel + "--world 2 --steps 6"));
  ASSERT_EQ(whole.size(), 6u);
  const std::vector<double> last_three(whole.begin() + 3, whole.end());
  run_json(kModel + "--mesh dp=2,tp=2 --save " + from_2d);
  run_json(kModel + "--world 4 --save " + from_1d);
  for (const auto& [layout, dir] : std::vector<std::pair<std::string, std::string>>{
           {"--world 2", from_2d}, {"--mesh dp=3,tp=2", from_2d}, {"--mesh dp=2,tp=2", from_1d}}) {
    SCOPED_TRACE(layout + " --load " + dir);
    const Value resumed = run_json(kModel + layout + " --load " + dir);
    expect_verified(resumed);
    const std::vector<double> got = losses(resumed);
    ASSERT_EQ(got.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(got[i], last_three[i], 1e-9) << i;
  }
}

TEST(CliTrainMesh, BadMeshesAreUsageErrorsNamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--mesh dp=2,tp=2 --world 3", "--mesh dp=2,tp=2 has 4 ranks but --world is 3"},
      {"--mesh dp=0,tp=2", "--mesh 'dp=0,tp=2': dp needs a degree from 1 to 64, got '0'"},
      {"--mesh tp=x", "--mesh 'tp=x': tp needs a degree from 1 to 64, got 'x'"},
      {"--mesh dp=-1", "--mesh 'dp=-1': dp needs a degree from 1 to 64, got '-1'"},
      {"--mesh pp=2", "--mesh 'pp=2': unknown mesh dim 'pp' (train's mesh dims are dp and tp)"},
      {"--mesh dp=2,dp=2", "--mesh 'dp=2,dp=2': 'dp' is given twice"},
      {"--mesh dp", "--mesh 'dp': 'dp' is not name=degree"},
      {"--mesh dp=2,", "--mesh 'dp=2,': '' is not name=degree"},
      {"--mesh dp=8,tp=16", "--mesh 'dp=8,tp=16' has 128 ranks; at most 64"},
      {"--mesh dp=2,tp=3", "--heads 4 is not divisible by tp 3 of --mesh"},
      {"--mesh dp=3,tp=1 --batch 4",
       "--batch 4 leaves a data-parallel rank of --mesh dp=3,tp=1 no rows"},
      {"--mesh dp=2,tp=2 --dropout 0.1", "--dropout 0.1 with --mesh dp=2,tp=2"},
  };
  for (const auto& [flags, message] : cases) {
    const std::string args =
        "train --layers 2 --dim 16 --heads 4 --vocab 32 --seq 8 --steps 1 " + flags;
    const Result r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr(message)) << args;
    EXPECT_THAT(r.out, HasSubstr("usage: tensorpar train")) << args;
  }
}

}  // namespace
