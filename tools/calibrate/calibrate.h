#pragma once
// `tensorpar calibrate`: this machine as the simulated backend's rank threads see it, measured
// through the library's own code paths and returned as a hardware profile of the built-in
// profiles' format (core/cost/hardware.h), so that the cost model predicts the sim's step times
// (docs/cost_model.md, "Calibrate"):
//
//   device.peak_flops["f32"], gemm_efficiency   linear with bias, forward and backward, by FLOPs
//   device.memory_bandwidth, memory_efficiency  a Transformer layer's element-wise kernels, by
//                                               bytes per call (kernel_rates.h)
//   device.kernel_launch_s                      the fixed cost per kernel call of the training
//                                               path (op_overhead.h)
//   device.shared_compute_units                 the cores this process may run on (its affinity
//                                               mask): W rank threads share them
//   collectives.measured                        the sim's all_reduce, all_gather, reduce_scatter
//                                               by world size 1..4 and bytes (sim_collectives.h)
//   collectives (formula), node                 the same measurements in NCCL's terms: base
//                                               latency and per-hop latency from the smallest
//                                               all_reduces, busbw from the largest; one node
//                                               holds every rank (gpus_per_node = 1024, the
//                                               sim's limit)
//
//   HardwareProfile p = calibrate_this_machine({.quick = false}, std::cerr);  // ~10 s
//   hardware_to_json(p);  // what `tensorpar calibrate --out FILE` writes
#include <ostream>

#include "core/cost/hardware.h"

namespace tensorpar::calibrate {

struct CalibrateOptions {
  bool quick = false;  // fewer sizes and samples: a few seconds, for tests
};

// The 1-minute load average (0 when unknown): other processes' share of the cores, reported
// beside every measurement.
double load_average();

// Measures and reports each part on `log` as it goes (what was measured, the rates found).
cost::HardwareProfile calibrate_this_machine(const CalibrateOptions& options, std::ostream& log);

}  // namespace tensorpar::calibrate
