// Checkpoints across backends: a run saved by gloo processes resumes on simulated ranks, and one
// saved on simulated ranks resumes as gloo processes at another world, each continuing the
// uninterrupted run's losses exactly (float64, 1e-12). The processes coordinate the save only
// through their communicator and the shared folder.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/temp_folder.h"
#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace tensorpar {
namespace {

using cli_testing::parse_json;
using cli_testing::run_cli;
using cli_testing::Value;

const std::string kCli = TENSORPAR_CLI_PATH;
const std::string kModel =
    "train --layers 1 --dim 24 --heads 12 --vocab 10 --seq 12 --batch 4 --dropout 0.1 "
    "--dtype f64 --json";

std::vector<double> losses(const Value& report) {
  std::vector<double> out;
  for (const Value& s : report["steps"].arr()) out.push_back(s["loss"].num());
  return out;
}

std::vector<double> step_numbers(const Value& report) {
  std::vector<double> out;
  for (const Value& s : report["steps"].arr()) out.push_back(s["step"].num());
  return out;
}

std::vector<double> sim_losses(const std::string& args) {
  const auto r = run_cli(kModel + " " + args, /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  return r.exit_code == 0 ? losses(parse_json(r.out)) : std::vector<double>{};
}

// Rank 0's report of `tensorpar run --nproc-per-node W -- tensorpar train --backend gloo ...`.
Value gloo_report(int world, const std::string& args) {
  const auto r = run_cli("run --nproc-per-node " + std::to_string(world) + " --master-port 0 -- " +
                             kCli + " " + kModel + " --backend gloo " + args,
                         /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("[rank0]:{", 0) == 0) return parse_json(line.substr(8));
  }
  ADD_FAILURE() << "no report from rank 0:\n" << r.out;
  return parse_json("{\"steps\": []}");
}

void expect_continues(const std::vector<double>& tail, const std::vector<double>& whole) {
  ASSERT_EQ(tail.size(), 2u);
  ASSERT_EQ(whole.size(), 4u);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_NEAR(tail[i], whole[2 + i], 1e-12) << "step " << 2 + i;
}

TEST(CliCheckpointProcesses, SavedByGlooProcessesResumesOnSimulatedRanks) {
  const testing::TempFolder folder;
  const std::vector<double> whole = sim_losses("--world 2 --steps 4 --no-compare");
  gloo_report(2, "--steps 2 --no-compare --save " + folder / "ck");
  expect_continues(sim_losses("--world 3 --steps 2 --no-compare --load " + folder / "ck"), whole);
}

TEST(CliCheckpointProcesses, SavedOnSimulatedRanksResumesAsGlooProcessesAtAnotherWorld) {
  const testing::TempFolder folder;
  const std::vector<double> whole = sim_losses("--world 4 --steps 4 --no-compare");
  sim_losses("--world 4 --steps 2 --no-compare --save " + folder / "ck");
  const Value resumed =
      gloo_report(3, "--steps 2 --no-compare --sequence-parallel --load " + folder / "ck");
  expect_continues(losses(resumed), whole);
  // Rank 0 numbers the steps as the uninterrupted run does: saved after step 2, these are 3, 4.
  EXPECT_EQ(step_numbers(resumed), (std::vector<double>{3, 4}));
}

}  // namespace
}  // namespace tensorpar
