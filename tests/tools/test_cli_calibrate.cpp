// `tensorpar calibrate --quick`: a hardware profile of this machine that the cost model's loader
// reads back, every field present, positive and consistent with how it was measured. Timings
// vary from run to run and are never asserted; only their form is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/cost/hardware.h"
#include "support/temp_folder.h"
#include "tools/cli_testing.h"

namespace tensorpar {
namespace {

using cli_testing::run_cli;
using ::testing::HasSubstr;

void expect_curve(const cost::EfficiencyCurve& curve, const std::string& what) {
  ASSERT_FALSE(curve.points.empty()) << what;
  double best = 0;
  for (std::size_t i = 0; i < curve.points.size(); ++i) {
    const auto [size, efficiency] = curve.points[i];
    EXPECT_GT(size, 0) << what << " point " << i;
    if (i > 0) {
      EXPECT_GT(size, curve.points[i - 1].first) << what << " point " << i;
    }
    EXPECT_GT(efficiency, 0) << what << " point " << i;
    EXPECT_LE(efficiency, 1) << what << " point " << i;
    best = std::max(best, efficiency);
  }
  // The peak is the best rate measured, so one point reaches it.
  EXPECT_NEAR(best, 1.0, 1e-9) << what;
}

void expect_profile(const cost::HardwareProfile& p) {
  EXPECT_FALSE(p.name.empty());
  EXPECT_FALSE(p.sources.empty());
  const cost::DeviceProfile& d = p.device;
  EXPECT_GT(d.peak_flops_per_s(DType::Float32), 0);
  EXPECT_GT(d.memory_bytes, 0);
  EXPECT_GT(d.memory_bandwidth, 0);
  EXPECT_GT(d.kernel_launch_s, 0);
  cpu_set_t cores;
  ASSERT_EQ(sched_getaffinity(0, sizeof(cores), &cores), 0);
  EXPECT_EQ(d.shared_compute_units, CPU_COUNT(&cores));  // the cores the rank threads may use
  expect_curve(d.gemm_efficiency, "gemm_efficiency");
  expect_curve(d.memory_efficiency, "memory_efficiency");

  EXPECT_GT(p.collectives.base_latency_s.at("ring"), 0);
  EXPECT_GT(p.collectives.intra_node_busbw, 0);
  EXPECT_GE(p.node.gpus_per_node, 4);  // every rank of the measured worlds on this machine

  // Three kinds x worlds 1..4 x three sizes (--quick), bytes increasing within each series and
  // whole floats per rank.
  std::map<std::pair<CollectiveKind, int>, std::vector<cost::MeasuredCollective>> series;
  for (const cost::MeasuredCollective& m : p.collectives.measured) {
    series[{m.kind, m.ranks}].push_back(m);
  }
  for (const CollectiveKind kind :
       {CollectiveKind::AllReduce, CollectiveKind::AllGather, CollectiveKind::ReduceScatter}) {
    for (int world = 1; world <= 4; ++world) {
      const auto& points = series[{kind, world}];
      const std::string what =
          std::string(collective_name(kind)) + " at " + std::to_string(world) + " ranks";
      ASSERT_EQ(points.size(), 3u) << what;
      for (std::size_t i = 0; i < points.size(); ++i) {
        EXPECT_GT(points[i].seconds, 0) << what;
        EXPECT_EQ(points[i].bytes % (4 * world), 0) << what << ": " << points[i].bytes;
        if (i > 0) {
          EXPECT_GT(points[i].bytes, points[i - 1].bytes) << what;
        }
      }
      EXPECT_GE(points.back().bytes, 1000 * points.front().bytes) << what;
    }
  }
  EXPECT_EQ(p.collectives.measured.size(), 3u * 4u * 3u);
}

TEST(CliCalibrate, QuickWritesAProfileTheLoaderReadsBack) {
  const testing::TempFolder folder;
  const std::string file = folder / "this-machine.json";
  const auto r = run_cli("calibrate --quick --out " + file);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // stderr says what was measured; the profile went to the file.
  EXPECT_THAT(r.out, HasSubstr("GFLOP/s"));
  EXPECT_THAT(r.out, HasSubstr("fixed cost per kernel call"));
  EXPECT_THAT(r.out, HasSubstr("sim collectives"));
  EXPECT_THAT(r.out, HasSubstr("wrote " + file));
  EXPECT_THAT(r.out, Not(HasSubstr("\"collectives\"")));
  const cost::HardwareProfile p = cost::load_hardware(file);
  expect_profile(p);
  // What it writes, it reads back unchanged.
  EXPECT_EQ(cost::hardware_to_json(cost::parse_hardware_json(cost::hardware_to_json(p), file)),
            cost::hardware_to_json(p));
}

TEST(CliCalibrate, WithoutOutTheProfileGoesToStdout) {
  const auto r = run_cli("calibrate --quick", /*stdout_only=*/true);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  expect_profile(cost::parse_hardware_json(r.out, "stdout"));
}

TEST(CliCalibrate, AnOutFileItCannotWriteIsAUsageErrorBeforeMeasuring) {
  const auto r = run_cli("calibrate --quick --out /nonexistent-folder/p.json");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--out /nonexistent-folder/p.json: cannot open it for writing"));
  EXPECT_THAT(r.out, Not(HasSubstr("GFLOP/s")));
  EXPECT_EQ(run_cli("calibrate --bogus").exit_code, 2);
}

}  // namespace
}  // namespace tensorpar
