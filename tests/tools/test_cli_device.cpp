// --device for train and check: the stand-in accelerator gives the CPU's losses and collective
// counts exactly; cuda without a GPU or a CUDA build, nccl without NCCL, and unknown names, are
// clear errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#ifdef TENSORPAR_HAVE_CUDA
#include "cuda/cuda_probe.h"
#endif
#include "tools/cli_testing.h"
#include "tools/json_reader.h"

namespace {

using ::testing::HasSubstr;
using tensorpar::cli_testing::parse_json;
using tensorpar::cli_testing::run_cli;
using tensorpar::cli_testing::Value;

std::vector<double> losses(const Value& report, const char* key) {
  std::vector<double> out;
  for (const Value& step : report["steps"].arr()) out.push_back(step[key].num());
  return out;
}

// Every collective of every phase, as "phase/name=count".
std::vector<std::string> counts(const Value& report) {
  std::vector<std::string> out;
  for (const auto& [phase, by_name] : report["comm"].obj()) {
    for (const auto& [name, count] : by_name.obj()) {
      out.push_back(phase + "/" + name + "=" + std::to_string(count.num()));
    }
  }
  return out;
}

void expect_same_training(const std::string& flags) {
  const auto cpu = run_cli("train --json --steps 6 " + flags, true);
  const auto standin = run_cli("train --json --steps 6 --device standin " + flags, true);
  ASSERT_EQ(cpu.exit_code, 0) << cpu.out;
  ASSERT_EQ(standin.exit_code, 0) << standin.out;
  const Value a = parse_json(cpu.out), b = parse_json(standin.out);
  EXPECT_EQ(a["device"].str(), "cpu");
  EXPECT_EQ(b["device"].str(), "standin");
  EXPECT_EQ(losses(b, "loss"), losses(a, "loss")) << flags;  // bit for bit
  EXPECT_EQ(losses(b, "ref_loss"), losses(a, "ref_loss")) << flags;
  EXPECT_EQ(counts(b), counts(a)) << flags;
  EXPECT_FALSE(counts(a).empty());
}

TEST(CliDevice, TrainOnTheStandInEqualsTheCpuRun) { expect_same_training("--world 3 --heads 3 --dim 24"); }

TEST(CliDevice, TrainWithSequenceParallelAndDropoutOnTheStandIn) {
  expect_same_training("--world 2 --sequence-parallel --dropout 0.2 --dtype f64");
}

// The whole op-rule matrix (every op, every placement combination on meshes 2, 3, 4 and 2x2,
// values, gradients and collective counts) on the stand-in, and the same report as on the CPU.
TEST(CliDevice, CheckRunsTheWholeRuleMatrixOnTheStandInAsOnTheCpu) {
  const auto standin = run_cli("check --device standin --json", true);
  const auto cpu = run_cli("check --json", true);
  ASSERT_EQ(standin.exit_code, 0) << standin.out;
  ASSERT_EQ(cpu.exit_code, 0) << cpu.out;
  const Value a = parse_json(cpu.out), b = parse_json(standin.out);
  EXPECT_TRUE(b["ok"].boolean());
  ASSERT_EQ(b["ops"].arr().size(), a["ops"].arr().size());
  ASSERT_GE(b["ops"].arr().size(), 20u);
  for (std::size_t i = 0; i < a["ops"].arr().size(); ++i) {
    const Value& x = a["ops"].arr()[i];
    const Value& y = b["ops"].arr()[i];
    EXPECT_EQ(y["op"].str(), x["op"].str());
    EXPECT_GT(y["rule_cases"].num(), 0);
    for (const char* key : {"rule_cases", "rule_failures", "count_failures", "backward_exact",
                            "gradcheck_max_rel_err"}) {
      EXPECT_EQ(y[key].num(), x[key].num()) << x["op"].str() << " " << key;
    }
  }
}

// On a device other than the CPU, check also compares each op's values and gradients with the
// CPU's run: the stand-in runs the CPU's kernels, so cat (data movement, bitwise) matches exactly.
TEST(CliDevice, CheckComparesEachOpOnTheDeviceWithTheCpu) {
  const auto r = run_cli("check --device standin --op cat --json", true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const Value report = parse_json(r.out);
  EXPECT_TRUE(report["ok"].boolean());
  ASSERT_EQ(report["ops"].arr().size(), 2u);  // cat, cat_last_dim
  for (const Value& op : report["ops"].arr()) {
    EXPECT_TRUE(op["device_vs_cpu_ok"].boolean()) << op["op"].str();
    EXPECT_EQ(op["device_vs_cpu_max_rel_err"].num(), 0.0) << op["op"].str();
  }
  const auto text = run_cli("check --device standin --op permute");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_THAT(text.out, HasSubstr("vs cpu"));
  EXPECT_THAT(text.out, HasSubstr("standin:0 vs cpu tolerance 1e-12 (bitwise for data movement)"));
}

// On the CPU there is nothing to compare with: no fields, a "-" in the column.
TEST(CliDevice, CheckOnTheCpuHasNoDeviceComparison) {
  const auto r = run_cli("check --device cpu --op cat_last_dim --json", true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const Value report = parse_json(r.out);
  ASSERT_EQ(report["ops"].arr().size(), 1u);
  EXPECT_FALSE(report["ops"].arr()[0].has("device_vs_cpu_ok"));
  EXPECT_FALSE(report["ops"].arr()[0].has("device_vs_cpu_max_rel_err"));
  const auto text = run_cli("check --op cat_last_dim");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_THAT(text.out,
              ::testing::ContainsRegex("cat_last_dim +[0-9.e+-]+ +[0-9/]+ +[0-9/]+ +- +ok"));
  EXPECT_THAT(text.out, ::testing::Not(HasSubstr("vs cpu tolerance")));
}

// Whether this machine has a GPU the tensorpar binary could use (a build with CUDA only).
bool machine_has_cuda_device() {
#ifdef TENSORPAR_HAVE_CUDA
  return tensorpar::cuda::probe_cuda_devices().count > 0;
#else
  return false;
#endif
}

// Without a GPU (or without CUDA in the build) --device cuda fails at once, saying which.
TEST(CliDevice, CudaWithoutAGpuFailsAtOnceSayingWhy) {
  if (machine_has_cuda_device()) GTEST_SKIP() << "this machine has a CUDA device";
  for (const char* command : {"train --device cuda", "check --device cuda"}) {
    const auto r = run_cli(command);
    EXPECT_EQ(r.exit_code, 1) << command;
#ifdef TENSORPAR_HAVE_CUDA
    EXPECT_THAT(r.out, HasSubstr("--device cuda: no CUDA device (")) << command;
#else
    EXPECT_THAT(r.out, HasSubstr("--device cuda: this tensorpar was built without CUDA")) << command;
#endif
  }
}

// --backend nccl: a build without NCCL says so; with NCCL, it means --device cuda, so a machine
// without a GPU fails at once as above, before looking for a launcher.
TEST(CliDevice, NcclNeedsANcclBuildAndAGpu) {
  if (machine_has_cuda_device()) GTEST_SKIP() << "this machine has a CUDA device";
  const auto r = run_cli("train --backend nccl");
  EXPECT_EQ(r.exit_code, 1);
#ifdef TENSORPAR_HAVE_NCCL
  EXPECT_THAT(r.out, HasSubstr("--device cuda: no CUDA device ("));
#else
  EXPECT_THAT(r.out, HasSubstr("--backend nccl: this tensorpar was built without NCCL"));
#endif
}

TEST(CliDevice, NcclMovesCudaTensorsOnly) {
#ifndef TENSORPAR_HAVE_NCCL
  GTEST_SKIP() << "built without NCCL";
#endif
  const auto r = run_cli("train --backend nccl --device cpu");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("--backend nccl moves CUDA tensors only; use --device cuda"));
  const auto s = run_cli("redistribute --backend nccl --mesh 2 --shape 4 --from S0 --to R");
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_THAT(s.out,
              HasSubstr("--backend nccl: redistribute moves CPU tensors; use --backend sim or gloo"));
}

TEST(CliDevice, AnUnknownDeviceIsAUsageError) {
  const auto r = run_cli("check --device tpu");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("--device must be cpu, standin or cuda, got 'tpu'"));
}

TEST(CliDevice, GlooMovesCpuTensorsOnly) {
  const auto r = run_cli("train --backend gloo --device standin");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("--backend gloo moves CPU tensors only; use --device cpu"));
}

}  // namespace
