// Hardware profiles: the efficiency curves, peaks by dtype, the built-in profiles' numbers, the
// JSON format (round trip, files) and its errors, which name the profile and the key.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/cost/hardware.h"
#include "support/expect_error.h"

namespace tensorpar::cost {
namespace {

using testing::expect_error;
using Json = nlohmann::json;

TEST(HardwareEfficiencyCurve, InterpolatesInLogSizeAndHoldsBeyondTheEnds) {
  EfficiencyCurve c{{{1e9, 0.6}, {16e9, 0.9}, {128e9, 0.95}}};
  EXPECT_DOUBLE_EQ(c.at(1e9), 0.6);
  EXPECT_DOUBLE_EQ(c.at(4e9), 0.75);  // half way in log: log 4 / log 16 = 1/2
  EXPECT_DOUBLE_EQ(c.at(16e9), 0.9);
  EXPECT_NEAR(c.at(32e9), 0.9 + 0.05 / 3, 1e-12);  // log 2 / log 8
  EXPECT_DOUBLE_EQ(c.at(1e3), 0.6);
  EXPECT_DOUBLE_EQ(c.at(0), 0.6);
  EXPECT_DOUBLE_EQ(c.at(1e15), 0.95);
}

TEST(HardwareEfficiencyCurve, EmptyIsOneEverywhere) {
  EXPECT_DOUBLE_EQ(EfficiencyCurve{}.at(123.0), 1.0);
}

TEST(HardwareDevice, PeakByDtypeNamesTheMissingOne) {
  DeviceProfile d;
  d.name = "test";
  d.peak_flops = {{"bf16", 312e12}, {"f32", 19.5e12}};
  EXPECT_DOUBLE_EQ(d.peak_flops_per_s(DType::BFloat16), 312e12);
  EXPECT_DOUBLE_EQ(d.peak_flops_per_s(DType::Float32), 19.5e12);
  expect_error<std::invalid_argument>(
      [&] { d.peak_flops_per_s(DType::Float64); },
      "no peak_tflops for dtype float64 (\"f64\"; it has bf16, f32)");
}

TEST(HardwareBuiltins, AreTheFourHgxProfilesAndMore) {
  const std::vector<std::string> names = builtin_hardware_names();
  for (const char* name : {"a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm", "h200-sxm"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  for (const std::string& name : names) {
    HardwareProfile h = load_hardware(name);
    EXPECT_EQ(h.name, name) << "the file's \"name\" is its stem";
    EXPECT_FALSE(h.sources.empty()) << name;
    EXPECT_GT(h.device.peak_flops_per_s(DType::BFloat16), 0) << name;
  }
}

TEST(HardwareBuiltins, H100CarriesTheDatasheetAndNcclNumbers) {
  HardwareProfile h = load_hardware("h100-sxm");
  EXPECT_DOUBLE_EQ(h.device.peak_flops_per_s(DType::BFloat16), 989.5e12);
  EXPECT_DOUBLE_EQ(h.device.memory_bytes, 80.0 * (1ll << 30));
  EXPECT_DOUBLE_EQ(h.device.memory_bandwidth, 3350e9);
  EXPECT_DOUBLE_EQ(h.device.gemm_efficiency.at(1100e9), 0.81);  // cuBLAS at 8192^3
  EXPECT_EQ(h.node.gpus_per_node, 8);
  EXPECT_DOUBLE_EQ(h.node.nvlink_bandwidth, 450e9);
  EXPECT_EQ(h.node.nics_per_node, 8);
  EXPECT_DOUBLE_EQ(h.node.nic_bandwidth, 50e9);
  EXPECT_DOUBLE_EQ(h.collectives.base_latency_s.at("ring"), 8.4e-6);
  EXPECT_DOUBLE_EQ(h.collectives.nvlink_hop_s, 3.4e-6);
  EXPECT_DOUBLE_EQ(h.collectives.intra_node_busbw, 370e9);
  EXPECT_DOUBLE_EQ(h.collectives.nvls_busbw, 480e9);
  ASSERT_EQ(h.collectives.protocols.size(), 2u);
  EXPECT_EQ(h.collectives.protocols[0].name, "ll");
  EXPECT_DOUBLE_EQ(h.collectives.protocols[0].bandwidth_share, 0.25);
}

TEST(HardwareBuiltins, A100HasNoNvlsAndTheTunersBusbwCap) {
  HardwareProfile h40 = load_hardware("a100-sxm4-40gb"), h80 = load_hardware("a100-sxm4-80gb");
  EXPECT_DOUBLE_EQ(h80.device.peak_flops_per_s(DType::BFloat16), 312e12);
  EXPECT_DOUBLE_EQ(h40.device.memory_bandwidth, 1555e9);
  EXPECT_DOUBLE_EQ(h80.device.memory_bandwidth, 2039e9);
  EXPECT_DOUBLE_EQ(h80.device.gemm_efficiency.at(128e9), 0.95);  // Calculon
  EXPECT_DOUBLE_EQ(h80.device.memory_efficiency.at(100e6), 0.9);
  EXPECT_DOUBLE_EQ(h80.collectives.intra_node_busbw, 235e9);
  EXPECT_DOUBLE_EQ(h80.collectives.nvls_busbw, 0);
  EXPECT_DOUBLE_EQ(h80.node.nvlink_bandwidth, 300e9);
  EXPECT_DOUBLE_EQ(h80.node.nic_bandwidth, 25e9);
}

TEST(HardwareJson, RoundTripsEveryField) {
  HardwareProfile h = load_hardware("h200-sxm");
  h.device.shared_compute_units = 2;
  h.collectives.measured = {{CollectiveKind::AllGather, 3, 4096, 12.5e-6},
                            {CollectiveKind::AllReduce, 2, 1 << 20, 310e-6}};
  const std::string text = hardware_to_json(h);
  HardwareProfile back = parse_hardware_json(text, "round trip");
  EXPECT_EQ(hardware_to_json(back), text);
  EXPECT_EQ(back.name, "h200-sxm");
  EXPECT_EQ(back.sources, h.sources);
  EXPECT_EQ(back.device.peak_flops, h.device.peak_flops);
  EXPECT_EQ(back.device.gemm_efficiency.points, h.device.gemm_efficiency.points);
  EXPECT_EQ(back.device.shared_compute_units, 2);
  EXPECT_DOUBLE_EQ(back.device.kernel_launch_s, h.device.kernel_launch_s);
  EXPECT_DOUBLE_EQ(back.collectives.nvls_busbw, 480e9);
  ASSERT_EQ(back.collectives.measured.size(), 2u);
  EXPECT_EQ(back.collectives.measured[0].kind, CollectiveKind::AllGather);
  EXPECT_EQ(back.collectives.measured[0].ranks, 3);
  EXPECT_EQ(back.collectives.measured[0].bytes, 4096);
  EXPECT_DOUBLE_EQ(back.collectives.measured[0].seconds, 12.5e-6);
  EXPECT_NE(text.find("\"memory_bandwidth_gbs\": 4800"), std::string::npos) << text;
}

TEST(HardwareJson, LoadsAFileOfTheFormat) {
  HardwareProfile h = load_hardware("a100-sxm4-80gb");
  h.name = "my-cluster";
  h.node.gpus_per_node = 4;
  const std::string path = ::testing::TempDir() + "tensorpar_hardware_test.json";
  std::ofstream(path) << hardware_to_json(h);
  HardwareProfile back = load_hardware(path);
  EXPECT_EQ(back.name, "my-cluster");
  EXPECT_EQ(back.node.gpus_per_node, 4);
  std::remove(path.c_str());
}

TEST(HardwareJson, UnknownNameListsTheBuiltins) {
  expect_error<std::invalid_argument>(
      [] { load_hardware("b200"); },
      "unknown hardware 'b200': neither a built-in profile (a100-sxm4-40gb, a100-sxm4-80gb,");
}

// The built-in H100 profile with one edit: `edit` changes the JSON before it is parsed.
template <class Edit>
void expect_profile_error(Edit edit, const std::string& needle) {
  Json json = Json::parse(hardware_to_json(load_hardware("h100-sxm")));
  edit(json);
  expect_error<std::invalid_argument>([&] { parse_hardware_json(json.dump(), "'x.json'"); },
                                      needle);
}

TEST(HardwareJson, ErrorsNameTheFileAndTheKey) {
  expect_error<std::invalid_argument>([] { parse_hardware_json("{\"name\": ", "'x.json'"); },
                                      "hardware profile 'x.json' is not JSON");
  expect_profile_error([](Json& j) { j["device"].erase("memory_bandwidth_gbs"); },
                       "hardware profile 'x.json': 'device.memory_bandwidth_gbs' is missing");
  expect_profile_error([](Json& j) { j.erase("node"); }, "'node' is missing");
  expect_profile_error([](Json& j) { j["node"]["nic_gbs"] = "fast"; },
                       "'node.nic_gbs' must be a number, got \"fast\"");
  expect_profile_error([](Json& j) { j["device"]["memory_gib"] = 0; },
                       "'device.memory_gib' must be > 0, got 0");
  expect_profile_error([](Json& j) { j["device"]["peak_tflops"]["bf16"] = -1; },
                       "'device.peak_tflops.bf16' must be > 0, got -1");
  expect_profile_error([](Json& j) { j["collectives"]["base_latency_us"].erase("ring"); },
                       "'collectives.base_latency_us.ring' is missing");
  expect_profile_error([](Json& j) { j["device"]["nvlink_gbs"] = 450; },
                       "'device.nvlink_gbs' is not a key of the format");
  expect_profile_error(
      [](Json& j) {
        j["device"]["gemm_efficiency_by_gflop"] = {{16, 0.9}, {1, 0.6}};
      },
      "'device.gemm_efficiency_by_gflop' needs increasing sizes, got [1,0.6]");
  expect_profile_error(
      [](Json& j) {
        j["device"]["memory_efficiency_by_mb"] = {{1, 1.5}};
      },
      "needs sizes > 0 and efficiencies in (0, 1], got [1,1.5]");
  expect_profile_error(
      [](Json& j) {
        j["collectives"]["measured"] = {
            {{"kind", "all_sum"}, {"ranks", 2}, {"bytes", 8}, {"us", 1}}};
      },
      "'collectives.measured[0].kind' names no collective: \"all_sum\"");
  expect_profile_error([](Json& j) { j["collectives"]["protocols"][1].erase("bandwidth_share"); },
                       "'collectives.protocols[1].bandwidth_share' is missing");
}

}  // namespace
}  // namespace tensorpar::cost
