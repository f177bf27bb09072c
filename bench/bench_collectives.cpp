// Sim collectives against a single-thread memcpy of the same bytes, in nccl-tests' terms.
//
//   size   nccl-tests' size: the all_reduce / all_to_all buffer, the all_gather output, the
//          reduce_scatter input (float32 elements: count = size / 4 per buffer)
//   algbw  size / time per collective (GB/s)
//   busbw  algbw * 2(n-1)/n for all_reduce, * (n-1)/n for all_gather, reduce_scatter, all_to_all
//
// One sim::run per benchmark call keeps the rank threads alive across iterations: rank 0 drives
// `for (auto _ : state)`; the others run the same number of collectives (state.max_iterations is
// fixed before the loop starts). A summary after the runs prints every case as a fraction of
// memcpy bandwidth and checks the two targets (reported, not asserted):
//   all_reduce busbw at W = 2, 64 MiB >= 40% of memcpy bandwidth
//   4-byte all_reduce at W = 8 < 50 us
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/comm/rank_context.h"
#include "core/ops/ops.h"
#include "sim/world.h"

namespace tensorpar {
namespace {

enum class Op { AllReduce, AllGather, ReduceScatter, AllToAll };

const char* op_name(Op op) {
  switch (op) {
    case Op::AllReduce:
      return "all_reduce";
    case Op::AllGather:
      return "all_gather";
    case Op::ReduceScatter:
      return "reduce_scatter";
    case Op::AllToAll:
      return "all_to_all";
  }
  return "?";
}

double bus_factor(Op op, int w) {
  return op == Op::AllReduce ? 2.0 * (w - 1) / w : double(w - 1) / w;
}

// Buffers of the case being measured, kept across the calls Google Benchmark makes for one case
// so that only the first call pays for allocating and touching them.
struct Buffers {
  Op op;
  int world = 0;
  std::int64_t bytes = 0;
  std::vector<Tensor> input, output;  // per rank
};

Buffers& buffers_for(Op op, int w, std::int64_t bytes) {
  static Buffers cached;
  if (cached.op == op && cached.world == w && cached.bytes == bytes) return cached;
  cached = Buffers{op, w, bytes, {}, {}};
  const std::int64_t count = bytes / 4;  // float32 elements of the nccl-tests size
  const std::int64_t in = op == Op::AllGather ? count / w : count;
  const std::int64_t out = op == Op::ReduceScatter ? count / w : count;
  for (int r = 0; r < w; ++r) {
    cached.input.push_back(full({in}, 1.0));
    cached.output.push_back(op == Op::AllReduce ? cached.input.back() : full({out}, 0.0));
  }
  return cached;
}

void run_one(Op op, Communicator& comm, Tensor& out, const Tensor& in) {
  switch (op) {
    case Op::AllReduce:
      comm.all_reduce(out)->wait();
      return;
    case Op::AllGather:
      comm.all_gather(out, in)->wait();
      return;
    case Op::ReduceScatter:
      comm.reduce_scatter(out, in)->wait();
      return;
    case Op::AllToAll:
      comm.all_to_all(out, in)->wait();
      return;
  }
}

void BM_collective(benchmark::State& state, Op op) {
  const int w = static_cast<int>(state.range(0));
  const std::int64_t bytes = state.range(1);
  Buffers& buffers = buffers_for(op, w, bytes);
  const benchmark::IterationCount iterations = state.max_iterations;
  sim::run(w, [&](int rank) {
    Communicator& comm = current_world();
    Tensor& out = buffers.output[rank];
    const Tensor& in = buffers.input[rank];
    run_one(op, comm, out, in);  // warm-up: every thread is up and the pages are mapped
    if (rank == 0) {
      for (auto _ : state) run_one(op, comm, out, in);
    } else {
      for (benchmark::IterationCount i = 0; i < iterations; ++i) run_one(op, comm, out, in);
    }
  });
  const double gb = static_cast<double>(bytes) / 1e9;
  state.counters["algbw"] = benchmark::Counter(gb, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["busbw"] =
      benchmark::Counter(gb * bus_factor(op, w), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(op_name(op));
}

void BM_memcpy(benchmark::State& state) {
  const std::size_t bytes = static_cast<std::size_t>(state.range(0));
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.counters["algbw"] = benchmark::Counter(static_cast<double>(bytes) / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("memcpy");
}

constexpr std::int64_t kMinBytes = 4 << 10;
constexpr std::int64_t kMaxBytes = 64 << 20;

void register_all() {
  for (std::int64_t b = kMinBytes; b <= kMaxBytes; b *= 4) {
    benchmark::RegisterBenchmark("memcpy", BM_memcpy)->ArgNames({"bytes"})->Arg(b)->UseRealTime();
  }
  for (Op op : {Op::AllReduce, Op::AllGather, Op::ReduceScatter, Op::AllToAll}) {
    auto* bench = benchmark::RegisterBenchmark(op_name(op), BM_collective, op);
    bench->ArgNames({"W", "bytes"})->UseRealTime();
    for (int w : {2, 4, 8}) {
      for (std::int64_t b = kMinBytes; b <= kMaxBytes; b *= 4) bench->Args({w, b});
    }
  }
  benchmark::RegisterBenchmark("all_reduce_latency", BM_collective, Op::AllReduce)
      ->ArgNames({"W", "bytes"})
      ->Args({8, 4})
      ->UseRealTime();
}

// Keeps what the summary needs from every run while the console shows the usual table.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  struct Result {
    std::string label;
    int world = 0;
    std::int64_t bytes = 0;
    double seconds = 0;  // per iteration
    double algbw = 0, busbw = 0;
  };
  std::vector<Result> results;

  // Colours only on a terminal (a custom reporter does not see --benchmark_color).
  SummaryReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      Result r;
      r.label = run.report_label;
      const std::string name = run.benchmark_name();
      r.world = arg(name, "W:");
      r.bytes = arg(name, "bytes:");
      r.seconds = run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
      r.algbw = counter(run, "algbw");
      r.busbw = counter(run, "busbw");
      results.push_back(r);
    }
  }

 private:
  static std::int64_t arg(const std::string& name, const std::string& key) {
    auto pos = name.find(key);
    return pos == std::string::npos ? 0 : std::stoll(name.substr(pos + key.size()));
  }
  static double counter(const Run& run, const std::string& key) {
    auto it = run.counters.find(key);
    return it == run.counters.end() ? 0 : it->second.value;
  }
};

void print_summary(const std::vector<SummaryReporter::Result>& results) {
  std::map<std::int64_t, double> memcpy_bw;
  for (const auto& r : results) {
    if (r.label == "memcpy") memcpy_bw[r.bytes] = r.algbw;
  }
  std::printf("\n%-15s %3s %12s %10s %6s %5s %11s %9s %9s %9s\n", "collective", "W", "size",
              "count", "type", "redop", "time(us)", "algbw", "busbw", "%memcpy");
  double target_ratio = -1, latency_us = -1;
  for (const auto& r : results) {
    if (r.label == "memcpy") continue;
    const double base = memcpy_bw.count(r.bytes) ? memcpy_bw[r.bytes] : 0;
    const double ratio = base > 0 ? r.busbw / base : 0;
    std::printf("%-15s %3d %12lld %10lld %6s %5s %11.2f %9.2f %9.2f %8.0f%%\n", r.label.c_str(),
                r.world, static_cast<long long>(r.bytes), static_cast<long long>(r.bytes / 4),
                "float", r.label == "all_reduce" || r.label == "reduce_scatter" ? "sum" : "none",
                r.seconds * 1e6, r.algbw, r.busbw, 100 * ratio);
    if (r.label == "all_reduce" && r.world == 2 && r.bytes == kMaxBytes) target_ratio = ratio;
    if (r.label == "all_reduce" && r.world == 8 && r.bytes == 4) latency_us = r.seconds * 1e6;
  }
  std::printf("\n");
  if (target_ratio >= 0) {
    std::printf("all_reduce W=2 64 MiB: busbw / memcpy = %.2f (target >= 0.40: %s)\n", target_ratio,
                target_ratio >= 0.40 ? "met" : "MISSED");
  }
  if (latency_us >= 0) {
    std::printf("all_reduce W=8 4 bytes: %.1f us per collective (target < 50 us: %s)\n", latency_us,
                latency_us < 50 ? "met" : "MISSED");
  }
}

}  // namespace
}  // namespace tensorpar

int main(int argc, char** argv) {
  tensorpar::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tensorpar::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  tensorpar::print_summary(reporter.results);
  benchmark::Shutdown();
  return 0;
}
