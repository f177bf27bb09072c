#pragma once
// A hardware profile: what the cost model knows of one GPU, a node of them and the network, with
// the source of every number. Built-in profiles (a100-sxm4-40gb, a100-sxm4-80gb, h100-sxm,
// h200-sxm) are JSON files in core/cost/profiles/ embedded at build time; `tensorpar calibrate`
// writes the same format for the machine it runs on (then "device" is this machine's CPU as the
// sim's ranks see it, and "collectives.measured" holds the sim's measured collective times).
//
//   HardwareProfile h = load_hardware("h100-sxm");   // or a path to a .json file
//   h.device.peak_flops_per_s(DType::BFloat16);      // 989.5e12
//   h.node.gpus_per_node;                            // 8
//
// Errors: an unknown name (not a built-in, not a readable file) and a file that does not parse or
// lacks a required key throw std::invalid_argument naming the name or file and the key.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "core/tensor/dtype.h"

namespace tensorpar::cost {

// A piecewise curve efficiency(size), interpolated linearly in log(size) between points sorted by
// size and held constant beyond the ends (an empty curve is 1 everywhere). GEMMs: size = FLOPs of
// the call; memory-bound kernels: size = bytes moved.
//
//   EfficiencyCurve c{{{1e9, 0.6}, {16e9, 0.9}}};
//   c.at(4e9);   // 0.6 + 0.3 x log(4) / log(16) = 0.75;  c.at(1e6) = 0.6;  c.at(1e12) = 0.9
struct EfficiencyCurve {
  std::vector<std::pair<double, double>> points;  // (size, efficiency in (0, 1])
  double at(double size) const;
};

struct DeviceProfile {
  std::string name;                          // "NVIDIA H100 SXM5 80GB"
  std::map<std::string, double> peak_flops;  // dense, per second, by dtype: "bf16", "fp16", "f32"
  double memory_bytes = 0;                   // usable device memory
  double memory_bandwidth = 0;               // B/s
  EfficiencyCurve gemm_efficiency;           // share of peak a GEMM of that many FLOPs reaches
  EfficiencyCurve memory_efficiency;  // share of bandwidth a kernel moving that many bytes reaches
  double kernel_launch_s = 0;         // fixed cost per kernel call (launch + framework)
  // 0: each rank has a device of its own. n > 0: ranks are threads sharing n cores (the sim on
  // this machine), so W ranks compute at min(1, n / W) of one device's rate each.
  int shared_compute_units = 0;
  double peak_flops_per_s(DType dtype) const;  // "bf16" for BFloat16, "f32" for Float32, ...
};

struct NodeProfile {
  int gpus_per_node = 8;
  double nvlink_bandwidth = 0;  // B/s per GPU per direction (NVLink 4: 450e9)
  int nics_per_node = 8;
  double nic_bandwidth = 0;  // B/s per NIC per direction (NDR: 50e9)
};

// One measured point of a collective on this machine (calibrate): kind over `ranks` ranks with a
// buffer of `bytes` (nccl-tests' size) took `seconds`.
struct MeasuredCollective {
  CollectiveKind kind;
  int ranks = 0;
  std::int64_t bytes = 0;
  double seconds = 0;
};

// One of NCCL's protocols other than Simple (LL, LL128): lower latencies for a share of the
// bandwidth. NCCL's tuner rates ring LL at 1/4 of the busbw for all_reduce (1/3 for all_gather and
// reduce_scatter inside a node) and LL128 at 0.92; collective_time, like the tuner, takes the
// fastest protocol for each call.
struct CollectiveProtocol {
  std::string name;                              // "ll", "ll128"
  std::map<std::string, double> base_latency_s;  // by algorithm: "ring", "tree"
  double nvlink_hop_s = 0;
  double network_hop_s = 0;
  double bandwidth_share = 1.0;  // of the Simple protocol's busbw
};

struct CollectiveProfile {
  // NCCL's model: time = base + steps x hop + bytes x factor / busbw. These are the Simple
  // protocol's numbers; `protocols` lists the others.
  std::map<std::string, double> base_latency_s;  // by algorithm: "ring", "tree", "nvls"
  double nvlink_hop_s = 0;
  double network_hop_s = 0;
  double intra_node_busbw = 0;  // ring busbw reached inside a node (B/s; ~370e9 on H100)
  double nvls_busbw = 0;        // NVLink SHARP all_reduce busbw; 0 when the hardware has none
  double inter_node_efficiency = 1.0;  // share of the NICs' line rate a ring reaches across nodes
  // Measured points (calibrate): when a kind has points, its time is interpolated in them
  // (log-log in bytes, nearest world size) instead of the formula.
  std::vector<MeasuredCollective> measured;
  std::vector<CollectiveProtocol> protocols;  // LL, LL128 (none: Simple only)
};

struct HardwareProfile {
  std::string name;  // "h100-sxm", or the file's "name"
  std::string description;
  std::vector<std::string> sources;  // where the numbers come from
  DeviceProfile device;
  NodeProfile node;
  CollectiveProfile collectives;
};

std::vector<std::string> builtin_hardware_names();
// A built-in name or a path to a JSON profile; std::invalid_argument otherwise (see above).
HardwareProfile load_hardware(const std::string& name_or_file);
HardwareProfile parse_hardware_json(const std::string& text, const std::string& origin);
std::string hardware_to_json(const HardwareProfile& profile);  // what parse_hardware_json reads

}  // namespace tensorpar::cost
