#include "tools/calibrate/calibrate.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "tools/calibrate/kernel_rates.h"
#include "tools/calibrate/op_overhead.h"
#include "tools/calibrate/sim_collectives.h"

namespace tensorpar::calibrate {
namespace {

constexpr int kRanksPerMachine = 1024;  // sim::run's largest world: every rank on this machine

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "CPU";
}

// The cores this process may run on (its affinity mask: a cpuset or taskset narrows it), else
// the hardware threads.
int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

double physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0;
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

void log_curve(std::ostream& log, const char* size_unit, double size_scale,
               const std::vector<RatePoint>& points, const char* rate_unit, double rate_scale) {
  for (const RatePoint& p : points) {
    log << "    " << std::setw(10) << fixed(p.size / size_scale, 3) << ' ' << size_unit << "  "
        << std::setw(8) << fixed(p.rate / rate_scale, 2) << ' ' << rate_unit << "\n";
  }
}

// The measured point of `kind` at `ranks` with the fewest (smallest = true) or most bytes.
const cost::MeasuredCollective* extreme_point(const std::vector<cost::MeasuredCollective>& points,
                                              CollectiveKind kind, int ranks, bool smallest) {
  const cost::MeasuredCollective* best = nullptr;
  for (const auto& p : points) {
    if (p.kind != kind || p.ranks != ranks) continue;
    if (!best || (smallest ? p.bytes < best->bytes : p.bytes > best->bytes)) best = &p;
  }
  return best;
}

// NCCL's terms from the measured all_reduces: base latency = the smallest all_reduce over 2
// ranks; per-hop latency = what the smallest one gains from 2 to 4 ranks over the 4 more ring
// steps (2(n-1)); busbw = the largest all_reduce over 2 ranks (factor 2(n-1)/n = 1).
void fill_formula(cost::HardwareProfile& p) {
  const auto& measured = p.collectives.measured;
  const auto* small2 = extreme_point(measured, CollectiveKind::AllReduce, 2, true);
  const auto* small4 = extreme_point(measured, CollectiveKind::AllReduce, 4, true);
  const auto* large2 = extreme_point(measured, CollectiveKind::AllReduce, 2, false);
  p.collectives.base_latency_s["ring"] = small2->seconds;
  p.collectives.nvlink_hop_s = std::max(0.0, (small4->seconds - small2->seconds) / 4);
  p.collectives.network_hop_s = p.collectives.nvlink_hop_s;
  p.collectives.intra_node_busbw = double(large2->bytes) / large2->seconds;
  p.collectives.nvls_busbw = 0;
  p.collectives.inter_node_efficiency = 1.0;
  p.node.gpus_per_node = kRanksPerMachine;
  p.node.nvlink_bandwidth = p.collectives.intra_node_busbw;
  p.node.nics_per_node = 1;
  p.node.nic_bandwidth = p.collectives.intra_node_busbw;
}

void log_collectives(std::ostream& log, const std::vector<cost::MeasuredCollective>& points) {
  std::map<std::pair<std::string, std::int64_t>, std::map<int, double>> table;
  for (const auto& p : points) {
    table[{std::string(collective_name(p.kind)), p.bytes}][p.ranks] = p.seconds;
  }
  log << "  sim collectives (us) by world size:\n"
      << "    kind              bytes       1       2       3       4\n";
  for (const auto& [key, by_world] : table) {
    log << "    " << std::left << std::setw(15) << key.first << std::right << std::setw(10)
        << key.second;
    for (int w = 1; w <= 4; ++w) {
      const auto it = by_world.find(w);
      log << std::setw(8) << (it == by_world.end() ? std::string("-") : fixed(it->second * 1e6, 1));
    }
    log << "\n";
  }
}

}  // namespace

double load_average() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : 0;
}

cost::HardwareProfile calibrate_this_machine(const CalibrateOptions& options, std::ostream& log) {
  const int cores = usable_cores();
  const double load = load_average();
  log << "calibrating " << cpu_model() << ", " << cores
      << " cores for the rank threads, load average " << fixed(load, 2)
      << (options.quick ? " (quick)" : "") << "\n";

  const KernelRates rates = measure_kernel_rates(options.quick);
  const RateCurve gemm = rate_curve(rates.gemm);
  const RateCurve elementwise = rate_curve(rates.elementwise);
  const RateCurve stream = rate_curve(rates.stream);
  log << "  linear with bias, forward and backward: peak " << fixed(gemm.peak / 1e9, 1)
      << " GFLOP/s (float32, one rank thread)\n";
  log_curve(log, "MFLOP", 1e6, rates.gemm, "GFLOP/s", 1e9);
  log << "  element-wise kernels of a Transformer layer: peak " << fixed(elementwise.peak / 1e9, 2)
      << " GB/s (streaming add alone: " << fixed(stream.peak / 1e9, 2) << " GB/s)\n";
  log_curve(log, "KiB/call", 1024, rates.elementwise, "GB/s", 1e9);

  const OpOverhead overhead = measure_op_overhead(options.quick);
  log << "  fixed cost per kernel call (training path): "
      << fixed(overhead.seconds_per_kernel * 1e6, 2) << " us (tiny Transformer step "
      << fixed(overhead.step_seconds * 1e6, 1) << " us / " << overhead.kernels << " kernels)\n";

  cost::HardwareProfile p;
  p.collectives.measured = measure_sim_collectives(options.quick);
  log_collectives(log, p.collectives.measured);

  p.name = "this-machine";
  p.description =
      "this machine's CPU as the simulated backend's rank threads see it (float32), "
      "measured by tensorpar calibrate" +
      std::string(options.quick ? " --quick" : "") + " at load average " + fixed(load, 2);
  p.sources = {
      "peak_flops.f32 and gemm_efficiency: kernels::linear with bias, forward and backward, on "
      "one rank thread (tools/calibrate/kernel_rates.h)",
      "memory_bandwidth and memory_efficiency: a Transformer layer's element-wise kernels "
      "(add, scale, GELU, softmax, layer_norm, their backwards, a permute); streaming add alone "
      "reached " +
          fixed(stream.peak / 1e9, 2) + " GB/s",
      "kernel_launch_s: a tiny Transformer training step per kernel call "
      "(tools/calibrate/op_overhead.h)",
      "shared_compute_units: the cores this process may run on (sched_getaffinity)",
      "collectives.measured: the sim's all_reduce, all_gather and reduce_scatter at world sizes "
      "1 to 4 (tools/calibrate/sim_collectives.h)"};
  p.device.name = cpu_model();
  p.device.peak_flops["f32"] = gemm.peak;
  p.device.memory_bytes = physical_memory_bytes();
  p.device.memory_bandwidth = elementwise.peak;
  p.device.gemm_efficiency = gemm.efficiency;
  p.device.memory_efficiency = elementwise.efficiency;
  p.device.kernel_launch_s = overhead.seconds_per_kernel;
  p.device.shared_compute_units = cores;
  fill_formula(p);
  return p;
}

}  // namespace tensorpar::calibrate
