// `tensorpar train --backend gloo` (and nccl, on GPUs) and `tensorpar redistribute --backend
// gloo` under `tensorpar run`: the same report as the simulated run (losses, reference,
// collectives per phase and their bytes), printed once by rank 0, plus `backend`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <vector>
#include <sys/wait.h>
#include <sstream>
#include <string>

#ifdef TENSORPAR_HAVE_CUDA
#include "cuda/cuda_probe.h"
#endif
#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace tensorpar {
namespace {

using cli_testing::parse_json;
using cli_testing::Result;
using cli_testing::run_cli;
using cli_testing::Value;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kCli = TENSORPAR_CLI_PATH;

// Runs `tensorpar run --nproc-per-node W -- tensorpar ARGS` with a collective timeout of 20 s
// and a hard limit of 60 s on the whole job; stdout only unless `with_stderr`.
Result run_job(int world, const std::string& args, bool with_stderr = false) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string command = "TENSORPAR_TIMEOUT_MS=20000 timeout -k 5 60 " + kCli +
                              " run --nproc-per-node " + std::to_string(world) +
                              " --master-port 0 -- " + kCli + " " + args +
                              (with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  std::cout << "[ timing   ] W=" << world << " " << args << ": "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
            << " s\n";
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The one JSON report of a job: rank 0's line; no other rank prints on stdout.
Value job_json(int world, const std::string& args) {
  const Result r = run_job(world, args + " --json");
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  std::istringstream lines(r.out);
  std::string line, json;
  int reports = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    EXPECT_EQ(line.rfind("[rank0]:", 0), 0u) << "a line not from rank 0: " << line;
    if (line.rfind("[rank0]:{", 0) == 0) {
      json = line.substr(8);
      ++reports;
    }
  }
  EXPECT_EQ(reports, 1) << r.out;
  return parse_json(json.empty() ? "null" : json);
}

Value sim_json(const std::string& args) {
  const Result r = run_cli(args + " --json", /*stdout_only=*/true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  return parse_json(r.out);
}

// Same keys (backend apart), same losses within `tolerance`, the same reference losses (within
// `ref_tolerance`: 0 for the same device), the same collectives and bytes per phase, both
// verified.
void expect_same_training(const Value& gloo, const Value& sim, double tolerance,
                          const std::string& backend = "gloo", double ref_tolerance = 0) {
  EXPECT_EQ(gloo["backend"].str(), backend);
  EXPECT_EQ(sim["backend"].str(), "sim");
  std::vector<std::string> gloo_keys, sim_keys;
  for (const auto& [k, v] : gloo.obj()) gloo_keys.push_back(k);
  for (const auto& [k, v] : sim.obj()) sim_keys.push_back(k);
  EXPECT_EQ(gloo_keys, sim_keys);
  EXPECT_EQ(gloo["world"].num(), sim["world"].num());
  const auto& gs = gloo["steps"].arr();
  const auto& ss = sim["steps"].arr();
  ASSERT_EQ(gs.size(), ss.size());
  for (std::size_t i = 0; i < gs.size(); ++i) {
    const double ref = ss[i]["ref_loss"].num();
    EXPECT_NEAR(gs[i]["loss"].num(), ss[i]["loss"].num(), tolerance * std::max(1.0, std::abs(ref)))
        << "step " << i + 1;
    EXPECT_NEAR(gs[i]["ref_loss"].num(), ref, ref_tolerance * std::max(1.0, std::abs(ref)))
        << "step " << i + 1;
  }
  for (const char* phase : {"forward", "backward", "optimizer"}) {
    std::map<std::string, double> g, s;
    for (const auto& [name, n] : gloo["comm"][phase].obj()) g[name] = n.num();
    for (const auto& [name, n] : sim["comm"][phase].obj()) s[name] = n.num();
    EXPECT_EQ(g, s) << phase;
    EXPECT_EQ(gloo["comm_bytes"][phase].num(), sim["comm_bytes"][phase].num()) << phase;
  }
  EXPECT_TRUE(gloo["comm_uniform"].boolean());
  EXPECT_TRUE(gloo["verified"].boolean());
  EXPECT_TRUE(sim["verified"].boolean());
}

const std::string kSmall = "train --layers 2 --dim 16 --heads 4 --vocab 32 --seq 8 --batch 2 ";
const std::string kThrees = "train --layers 2 --dim 24 --heads 3 --vocab 30 --seq 9 --batch 2 ";

TEST(CliTrainGloo, TwoProcessesTrainAsTheSimulatedRunInFloat64) {
  const std::string args = kSmall + "--steps 3 --dtype f64";
  expect_same_training(job_json(2, args + " --backend gloo"), sim_json(args + " --world 2"), 1e-9);
}

TEST(CliTrainGloo, ThreeProcessesWithSequenceParallelAndDropoutInFloat64) {
  const std::string args = kThrees + "--steps 2 --dtype f64 --sequence-parallel --dropout 0.2";
  expect_same_training(job_json(3, args + " --backend gloo --world 3"),
                       sim_json(args + " --world 3"), 1e-9);
}

TEST(CliTrainGloo, FourProcessesWithLossParallelInFloat32) {
  const std::string args = kSmall + "--steps 3 --loss-parallel";
  expect_same_training(job_json(4, args + " --backend gloo"), sim_json(args + " --world 4"), 1e-3);
}

TEST(CliTrainGloo, TheTextReportNamesTheProcessesAndIsPrintedOnce) {
  const Result r = run_job(2, kSmall + "--steps 2 --backend gloo");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("[rank0]:tensor parallel over 2 gloo processes"));
  EXPECT_THAT(r.out, HasSubstr("on 2 gloo processes"));
  EXPECT_THAT(r.out, Not(HasSubstr("[rank1]:")));
}

TEST(CliTrainGloo, ANonFiniteLossStopsEveryProcessAtTheSameStep) {
  const auto t0 = std::chrono::steady_clock::now();
  const Result r = run_job(3, kSmall + "--heads 3 --dim 12 --steps 6 --lr 1e300 --backend gloo "
                                       "--json",
                           /*with_stderr=*/true);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_LT(seconds, 15.0) << "a rank waited for the collective timeout (20 s)";
  EXPECT_THAT(r.out, HasSubstr("[rank0]:tensorpar train: loss is nan at step 2 (train) / nan "
                               "(reference); training stopped there"));
  EXPECT_THAT(r.out, HasSubstr("\"non_finite_loss\":{\"train\":{\"step\":2,\"loss\":\"nan\"}"));
  EXPECT_THAT(r.out, Not(HasSubstr("[rank1]:")));  // the other ranks stopped quietly
  EXPECT_THAT(r.out, Not(HasSubstr("timed out")));
}

TEST(CliTrainGloo, WithoutALauncherItSaysToStartItUnderOne) {
  const Result r = run_cli(kSmall + "--backend gloo");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("start train under a launcher, e.g. 'tensorpar run "
                               "--nproc-per-node 4 -- tensorpar train --backend gloo'"));
}

TEST(CliTrainGloo, AWorldFlagOtherThanTheJobsIsAUsageError) {
  const Result r = run_job(2, kSmall + "--backend gloo --world 4", /*with_stderr=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--world 4 differs from WORLD_SIZE=2"));
  EXPECT_THAT(r.out, HasSubstr("exitcode  : 2"));
}

// --mesh on gloo: the same 2-D step as on the simulated backend, its dp bucket all_reduce apart
// from the tp collectives. With dp 3 over 8 rows (3, 3, 2) the tp groups' bytes differ, so the
// ranks' steps are not uniform.
TEST(CliTrainGloo, A2dMeshTrainsAsTheSimulatedRun) {
  const std::string args = kSmall + "--steps 2 --dtype f64 --mesh dp=2,tp=2";
  const Value gloo = job_json(4, args + " --backend gloo");
  expect_same_training(gloo, sim_json(args), 1e-9);
  EXPECT_EQ(gloo["mesh"]["dp"].num(), 2);
  EXPECT_EQ(gloo["comm_dp"]["backward"]["all_reduce"].num(), 1);
  const Value uneven = job_json(6, "train --layers 2 --dim 16 --heads 4 --vocab 32 --seq 8 "
                                   "--batch 8 --steps 2 --dtype f64 --mesh dp=3,tp=2 --backend gloo");
  EXPECT_TRUE(uneven["verified"].boolean());
  EXPECT_FALSE(uneven["comm_uniform"].boolean());
}

TEST(CliTrainGloo, AMeshOtherThanTheJobsWorldIsAUsageError) {
  const Result r = run_job(2, kSmall + "--backend gloo --mesh dp=2,tp=2", /*with_stderr=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--mesh dp=2,tp=2 has 4 ranks but WORLD_SIZE=2"));
}

TEST(CliTrainGloo, AnUnknownBackendIsAUsageError) {
  const Result r = run_cli(kSmall + "--backend carrier-pigeon");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--backend must be one of sim, gloo"));
}

// ---- nccl: one process per GPU ----

int cuda_devices() {
#ifdef TENSORPAR_HAVE_CUDA
  return cuda::probe_cuda_devices().count;
#else
  return 0;
#endif
}

// Up to two GPUs (one process each) train as the sim's ranks on the CPU: the same losses, the same
// collectives and bytes per phase; the reference ran on rank 0's GPU, so its losses agree with
// the CPU's within f64 rounding.
TEST(CliTrainNccl, ProcessesOnGpusTrainAsTheSimulatedRunInFloat64) {
#ifndef TENSORPAR_HAVE_NCCL
  GTEST_SKIP() << "built without NCCL";
#endif
  const int gpus = cuda_devices();
  if (gpus == 0) GTEST_SKIP() << "no CUDA device";
  const int world = std::min(gpus, 2);
  const std::string args = kSmall + "--steps 3 --dtype f64";
  expect_same_training(job_json(world, args + " --backend nccl"),
                       sim_json(args + " --world " + std::to_string(world)), 1e-9, "nccl", 1e-9);
}

// Without a GPU every worker fails at once, and the launcher reports the job failed.
TEST(CliTrainNccl, WithoutAGpuTheWorkersFailAtOnceSayingWhy) {
#ifndef TENSORPAR_HAVE_NCCL
  GTEST_SKIP() << "built without NCCL";
#endif
  if (cuda_devices() > 0) GTEST_SKIP() << "this machine has a CUDA device";
  const Result r = run_job(2, kSmall + "--backend nccl", /*with_stderr=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--device cuda: no CUDA device ("));
  EXPECT_THAT(r.out, HasSubstr("tensorpar run: the job failed"));
}

// ---- redistribute ----

void expect_same_redistribute(const Value& gloo, const Value& sim) {
  EXPECT_EQ(gloo["backend"].str(), "gloo");
  EXPECT_EQ(sim["backend"].str(), "sim");
  EXPECT_EQ(gloo["path"].str(), sim["path"].str());
  std::map<std::string, double> gc, sc;
  for (const auto& [name, n] : gloo["counts"].obj()) gc[name] = n.num();
  for (const auto& [name, n] : sim["counts"].obj()) sc[name] = n.num();
  EXPECT_EQ(gc, sc);
  ASSERT_EQ(gloo["steps"].arr().size(), sim["steps"].arr().size());
  for (std::size_t i = 0; i < sim["steps"].arr().size(); ++i) {
    const Value& g = gloo["steps"].arr()[i];
    const Value& s = sim["steps"].arr()[i];
    EXPECT_EQ(g["collective"].str(), s["collective"].str()) << "step " << i;
    EXPECT_EQ(g["bytes_per_rank"].num(), s["bytes_per_rank"].num()) << "step " << i;
  }
  ASSERT_EQ(gloo["ranks"].arr().size(), sim["ranks"].arr().size());
  for (std::size_t i = 0; i < sim["ranks"].arr().size(); ++i) {
    const Value& g = gloo["ranks"].arr()[i];
    const Value& s = sim["ranks"].arr()[i];
    for (const char* when : {"before", "after"}) {
      for (const char* what : {"shape", "offset"}) {
        std::vector<double> gv, sv;
        for (const auto& x : g[when][what].arr()) gv.push_back(x.num());
        for (const auto& x : s[when][what].arr()) sv.push_back(x.num());
        EXPECT_EQ(gv, sv) << "rank " << i << " " << when << " " << what;
      }
    }
    EXPECT_TRUE(g["verified"].boolean()) << "rank " << i;
  }
  EXPECT_TRUE(gloo["verified"].boolean());
}

TEST(CliRedistributeGloo, FourProcessesOnATwoByTwoMeshAsTheSimulatedRun) {
  const std::string args = "redistribute --mesh 2x2 --shape 10x5 --from S0,S1 --to S1,S0";
  expect_same_redistribute(job_json(4, args + " --backend gloo"), sim_json(args));
}

TEST(CliRedistributeGloo, ThreeProcessesReducePartialToUnevenShards) {
  const std::string args = "redistribute --mesh 3 --shape 7x2 --from P --to S0 --dtype f64";
  expect_same_redistribute(job_json(3, args + " --backend gloo"), sim_json(args));
}

TEST(CliRedistributeGloo, AMeshOtherThanTheJobIsAUsageError) {
  const Result r = run_job(2, "redistribute --backend gloo --mesh 3 --shape 6 --from S0 --to R",
                           /*with_stderr=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--mesh [3] has 3 ranks but the job has WORLD_SIZE=2"));
}

}  // namespace
}  // namespace tensorpar
