// GlooCommunicator against raw Gloo calls on the same Gloo contexts and against the sim, in
// nccl-tests' terms. W ranks are threads of this process on the loopback interface.
//
//   path   comm: the Communicator's public call (argument checks, CommDebugMode hook, Work)
//          raw:  the Gloo entry point a Gloo user would call on the same context:
//                all_reduce gloo::allreduce, all_gather gloo::allgather, reduce_scatter
//                gloo::allreduce of a copy of the input then a copy of block rank() (Gloo has no
//                new-style reduce_scatter)
//          ring: reduce_scatter only: the ring GlooCommunicator runs, called directly, so that
//                comm / ring is the wrapper's own overhead
//          sim:  the same Communicator call on sim::run's threads (shared memory, no sockets)
//   size   nccl-tests' size: the all_reduce buffer, the all_gather output, the reduce_scatter
//          input (float32: count = size / 4)
//   algbw  size / time (GB/s);  busbw  algbw * 2(n-1)/n for all_reduce, (n-1)/n for the others
//
// Each case: rank 0 drives `for (auto _ : state)`, the other ranks run the same number of calls.
// The summary prints every case in nccl-tests' columns and comm's overhead over raw (target: at
// most 5% at 1-64 MiB; reported, not asserted), also measured as alternating pairs of calls
// (overhead/...: robust to a busy machine) and at W = 1 (the wrapper's fixed cost per call). Run
// with --benchmark_repetitions=3
// --benchmark_enable_random_interleaving=true on a busy machine: the summary uses the medians.
#include <benchmark/benchmark.h>
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/math.h>
#include <gloo/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/summary_run.h"
#include "core/comm/hash_store.h"
#include "core/comm/communicator.h"
#include "core/comm/rank_context.h"
#include "core/tensor/tensor.h"
#include "gloo/gloo_communicator.h"
#include "gloo/ring_reduce_scatter.h"
#include "sim/world.h"

namespace tensorpar {
namespace {

enum class Op { AllReduce, AllGather, ReduceScatter };
enum class Path { Comm, Raw, Ring, Sim };

const char* op_name(Op op) {
  switch (op) {
    case Op::AllReduce:
      return "all_reduce";
    case Op::AllGather:
      return "all_gather";
    case Op::ReduceScatter:
      return "reduce_scatter";
  }
  return "?";
}

const char* path_name(Path path) {
  switch (path) {
    case Path::Comm:
      return "comm";
    case Path::Raw:
      return "raw";
    case Path::Ring:
      return "ring";
    case Path::Sim:
      return "sim";
  }
  return "?";
}

double bus_factor(Op op, int w) {
  return op == Op::AllReduce ? 2.0 * (w - 1) / w : double(w - 1) / w;
}

// One Gloo world per W, connected once and kept for the whole program.
std::vector<std::shared_ptr<gloo::GlooCommunicator>>& gloo_world(int w) {
  static std::map<int, std::vector<std::shared_ptr<gloo::GlooCommunicator>>> worlds;
  auto& world = worlds[w];
  if (!world.empty()) return world;
  auto store = std::make_shared<HashStore>();
  world.resize(w);
  std::vector<std::thread> threads;
  for (int r = 0; r < w; ++r) {
    threads.emplace_back([&, r] {
      world[r] = gloo::make_gloo_world(store, r, w, {.timeout = Milliseconds(120000)});
    });
  }
  for (auto& t : threads) t.join();
  return world;
}

// Buffers of the case being measured, kept across the calls Google Benchmark makes for a case.
struct Buffers {
  Op op;
  int world = 0;
  std::int64_t bytes = 0;
  std::vector<Tensor> input, output, scratch;  // per rank
};

Buffers& buffers_for(Op op, int w, std::int64_t bytes) {
  static Buffers cached;
  if (cached.op == op && cached.world == w && cached.bytes == bytes) return cached;
  cached = Buffers{op, w, bytes, {}, {}, {}};
  const std::int64_t count = bytes / 4;
  const std::int64_t in = op == Op::AllGather ? count / w : count;
  const std::int64_t out = op == Op::ReduceScatter ? count / w : count;
  for (int r = 0; r < w; ++r) {
    cached.input.push_back(full({in}, 1.0));
    cached.output.push_back(op == Op::AllReduce ? cached.input.back() : full({out}, 0.0));
    // raw reduce_scatter: the all_reduce copy; ring: the two staged blocks.
    cached.scratch.push_back(op == Op::ReduceScatter ? full({count}, 0.0) : Tensor());
  }
  return cached;
}

void run_comm(Op op, Communicator& comm, Tensor& out, const Tensor& in) {
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
  }
}

void raw_all_reduce(gloo::GlooCommunicator& comm, float* data, std::size_t n) {
  ::gloo::AllreduceOptions o(comm.context());
  o.setOutput<float>(data, n);
  o.setReduceFunction(
      static_cast<void (*)(void*, const void*, const void*, std::size_t)>(&::gloo::sum<float>));
  o.setTag(comm.next_tag());
  ::gloo::allreduce(o);
}

void run_raw(Op op, Path path, gloo::GlooCommunicator& comm, Tensor& out, const Tensor& in,
             Tensor& scratch) {
  auto* out_data = static_cast<float*>(out.data_ptr());
  auto* in_data = static_cast<float*>(const_cast<void*>(in.data_ptr()));
  switch (op) {
    case Op::AllReduce:
      raw_all_reduce(comm, out_data, static_cast<std::size_t>(out.numel()));
      return;
    case Op::AllGather: {
      ::gloo::AllgatherOptions o(comm.context());
      o.setInput<float>(in_data, static_cast<std::size_t>(in.numel()));
      o.setOutput<float>(out_data, static_cast<std::size_t>(out.numel()));
      o.setTag(comm.next_tag());
      ::gloo::allgather(o);
      return;
    }
    case Op::ReduceScatter: {
      auto* tmp = static_cast<float*>(scratch.data_ptr());
      if (path == Path::Ring) {
        const auto slot = ::gloo::Slot::build(0x22, comm.next_tag());
        gloo::ring_reduce_scatter(
            *comm.context(), reinterpret_cast<const std::byte*>(in_data),
            reinterpret_cast<std::byte*>(out_data), reinterpret_cast<std::byte*>(tmp), out.nbytes(),
            static_cast<std::size_t>(out.numel()),
            gloo::reduce_function(DType::Float32, ReduceOp::Sum), slot, comm.default_timeout());
        return;
      }
      std::memcpy(tmp, in_data, in.nbytes());
      raw_all_reduce(comm, tmp, static_cast<std::size_t>(in.numel()));
      std::memcpy(out_data, tmp + comm.rank() * out.numel(), out.nbytes());
      return;
    }
  }
}

void BM_collective(benchmark::State& state, Op op, Path path) {
  const int w = static_cast<int>(state.range(0));
  const std::int64_t bytes = state.range(1);
  Buffers& buffers = buffers_for(op, w, bytes);
  const benchmark::IterationCount iterations = state.max_iterations;
  auto body = [&](Communicator& comm, int rank, auto&& call) {
    call();  // warm-up: every thread is up and the pages are mapped
    if (rank == 0) {
      for (auto _ : state) call();
    } else {
      for (benchmark::IterationCount i = 0; i < iterations; ++i) call();
    }
  };
  if (path == Path::Sim) {
    sim::run(w, [&](int rank) {
      Communicator& comm = current_world();
      body(comm, rank, [&] { run_comm(op, comm, buffers.output[rank], buffers.input[rank]); });
    });
  } else {
    auto& world = gloo_world(w);
    std::vector<std::thread> threads;
    for (int r = 0; r < w; ++r) {
      threads.emplace_back([&, r] {
        gloo::GlooCommunicator& comm = *world[r];
        Tensor& out = buffers.output[r];
        const Tensor& in = buffers.input[r];
        if (path == Path::Comm) {
          body(comm, r, [&] { run_comm(op, comm, out, in); });
        } else {
          body(comm, r, [&] { run_raw(op, path, comm, out, in, buffers.scratch[r]); });
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const double gb = static_cast<double>(bytes) / 1e9;
  state.counters["algbw"] = benchmark::Counter(gb, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["busbw"] =
      benchmark::Counter(gb * bus_factor(op, w), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(op_name(op)) + "/" + path_name(path));
}

// comm against raw (ring for reduce_scatter: the same algorithm) in alternating pairs of calls,
// so that both see the same machine load: rank 0 times every call; the overhead is the median over
// pairs of comm / raw - 1. The order inside a pair alternates to cancel warm-cache effects.
void BM_overhead(benchmark::State& state, Op op) {
  const int w = static_cast<int>(state.range(0));
  const std::int64_t bytes = state.range(1);
  const Path raw_path = op == Op::ReduceScatter ? Path::Ring : Path::Raw;
  Buffers& buffers = buffers_for(op, w, bytes);
  auto& world = gloo_world(w);
  const benchmark::IterationCount iterations = state.max_iterations;
  std::vector<double> comm_s, raw_s;
  std::vector<std::thread> threads;
  for (int r = 0; r < w; ++r) {
    threads.emplace_back([&, r] {
      gloo::GlooCommunicator& comm = *world[r];
      Tensor& out = buffers.output[r];
      const Tensor& in = buffers.input[r];
      auto call_comm = [&] { run_comm(op, comm, out, in); };
      auto call_raw = [&] { run_raw(op, raw_path, comm, out, in, buffers.scratch[r]); };
      auto timed = [](auto&& call) {
        const auto start = std::chrono::steady_clock::now();
        call();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      };
      call_comm();
      call_raw();
      if (r == 0) {
        benchmark::IterationCount i = 0;
        for (auto _ : state) {
          if (i++ % 2 == 0) {
            comm_s.push_back(timed(call_comm));
            raw_s.push_back(timed(call_raw));
          } else {
            raw_s.push_back(timed(call_raw));
            comm_s.push_back(timed(call_comm));
          }
        }
      } else {
        for (benchmark::IterationCount i = 0; i < iterations; ++i) {
          if (i % 2 == 0) {
            call_comm();
            call_raw();
          } else {
            call_raw();
            call_comm();
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  std::vector<double> ratios;
  for (std::size_t i = 0; i < comm_s.size(); ++i) ratios.push_back(comm_s[i] / raw_s[i]);
  state.counters["comm_ms"] = median(comm_s) * 1e3;
  state.counters["raw_ms"] = median(raw_s) * 1e3;
  state.counters["overhead_pct"] = (median(ratios) - 1) * 100;
  state.SetLabel(std::string("overhead/") + op_name(op));
}

void register_all() {
  // The wrapper's fixed cost per call, with the wire out of the picture: W = 1, 4 KiB.
  for (Op op : {Op::AllReduce, Op::AllGather, Op::ReduceScatter}) {
    benchmark::RegisterBenchmark((std::string("overhead/") + op_name(op)).c_str(), BM_overhead, op)
        ->ArgNames({"W", "bytes"})
        ->Args({1, 4096})
        ->Iterations(2000)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (Op op : {Op::AllReduce, Op::AllGather, Op::ReduceScatter}) {
    for (int w : {2, 4}) {
      for (std::int64_t mib : {1, 16, 64}) {
        for (Path path : {Path::Comm, Path::Raw, Path::Ring, Path::Sim}) {
          if (path == Path::Ring && op != Op::ReduceScatter) continue;
          const std::string name = std::string(op_name(op)) + "/" + path_name(path);
          benchmark::RegisterBenchmark(name.c_str(), BM_collective, op, path)
              ->ArgNames({"W", "bytes"})
              ->Args({w, mib << 20})
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
        // Pairs: 60 at 1 MiB, 16 at 16 MiB, 8 at 64 MiB.
        benchmark::RegisterBenchmark((std::string("overhead/") + op_name(op)).c_str(), BM_overhead,
                                     op)
            ->ArgNames({"W", "bytes"})
            ->Args({w, mib << 20})
            ->Iterations(mib == 1    ? 60
                         : mib == 16 ? 16
                                     : 8)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

// Keeps what the summary needs (medians when repeated) while the console shows the usual table.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  struct Result {
    std::string label;  // "all_reduce/comm"
    int world = 0;
    std::int64_t bytes = 0;
    double seconds = 0;  // per collective
    double algbw = 0, busbw = 0;
    double comm_ms = 0, raw_ms = 0, overhead_pct = 0;  // overhead/ cases
  };
  std::map<std::string, Result> results;  // by benchmark name (without aggregate suffix)
  std::vector<std::string> order;

  SummaryReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (!bench::summarises(run)) continue;
      Result r;
      r.label = run.report_label;
      const std::string name = run.run_name.str();
      r.world = static_cast<int>(arg(name, "W:"));
      r.bytes = arg(name, "bytes:");
      r.seconds = run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
      r.algbw = counter(run, "algbw");
      r.busbw = counter(run, "busbw");
      r.comm_ms = counter(run, "comm_ms");
      r.raw_ms = counter(run, "raw_ms");
      r.overhead_pct = counter(run, "overhead_pct");
      if (!results.count(name)) order.push_back(name);
      results[name] = r;
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

void print_summary(const SummaryReporter& reporter) {
  // Raw time of each (collective, W, size), for comm's overhead.
  std::map<std::string, double> raw, ring;
  auto key = [](const std::string& op, int w, std::int64_t bytes) {
    return op + "/" + std::to_string(w) + "/" + std::to_string(bytes);
  };
  for (const auto& [name, r] : reporter.results) {
    const auto slash = r.label.find('/');
    const std::string op = r.label.substr(0, slash), path = r.label.substr(slash + 1);
    if (path == "raw") raw[key(op, r.world, r.bytes)] = r.seconds;
    if (path == "ring") ring[key(op, r.world, r.bytes)] = r.seconds;
  }
  std::printf("\n%-15s %-5s %2s %10s %9s %6s %5s %10s %8s %8s %13s %13s\n", "collective", "path",
              "W", "size", "count", "type", "redop", "time(us)", "algbw", "busbw", "comm/raw-1",
              "comm/ring-1");
  // Sorted by collective, W, size, path (random interleaving reports in any order).
  std::vector<const SummaryReporter::Result*> sorted;
  for (const auto& name : reporter.order) sorted.push_back(&reporter.results.at(name));
  auto sort_key = [](const SummaryReporter::Result* r) {
    static const std::vector<std::string> ops = {"all_reduce", "all_gather", "reduce_scatter"};
    static const std::vector<std::string> paths = {"comm", "raw", "ring", "sim"};
    const auto slash = r->label.find('/');
    const std::string first = r->label.substr(0, slash), second = r->label.substr(slash + 1);
    const bool overhead = first == "overhead";
    const std::string& op = overhead ? second : first;
    auto index = [](const std::vector<std::string>& v, const std::string& x) {
      return std::find(v.begin(), v.end(), x) - v.begin();
    };
    return std::tuple(overhead, index(ops, op), r->world, r->bytes,
                      overhead ? 0 : index(paths, second));
  };
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const auto* a, const auto* b) { return sort_key(a) < sort_key(b); });
  for (const auto* result : sorted) {
    const auto& r = *result;
    if (r.label.rfind("overhead/", 0) == 0) continue;
    const auto slash = r.label.find('/');
    const std::string op = r.label.substr(0, slash), path = r.label.substr(slash + 1);
    std::string over_raw = "", over_ring = "";
    if (path == "comm") {
      const std::string k = key(op, r.world, r.bytes);
      char buf[32];
      if (raw.count(k)) {
        std::snprintf(buf, sizeof buf, "%+.1f%%", 100 * (r.seconds / raw[k] - 1));
        over_raw = buf;
      }
      if (ring.count(k)) {
        std::snprintf(buf, sizeof buf, "%+.1f%%", 100 * (r.seconds / ring[k] - 1));
        over_ring = buf;
      }
    }
    std::printf("%-15s %-5s %2d %10lld %9lld %6s %5s %10.1f %8.2f %8.2f %13s %13s\n", op.c_str(),
                path.c_str(), r.world, static_cast<long long>(r.bytes),
                static_cast<long long>(r.bytes / 4), "float", op == "all_gather" ? "none" : "sum",
                r.seconds * 1e6, r.algbw, r.busbw, over_raw.c_str(), over_ring.c_str());
  }
  std::printf("\nPaired calls (median over pairs; raw = ring for reduce_scatter)\n");
  std::printf("%-15s %2s %10s %10s %10s %10s\n", "collective", "W", "size", "comm(us)", "raw(us)",
              "overhead");
  for (const auto* result : sorted) {
    const auto& r = *result;
    if (r.label.rfind("overhead/", 0) != 0) continue;
    std::printf("%-15s %2d %10lld %10.2f %10.2f %+9.1f%%\n", r.label.substr(9).c_str(), r.world,
                static_cast<long long>(r.bytes), r.comm_ms * 1e3, r.raw_ms * 1e3, r.overhead_pct);
  }
  std::printf(
      "\ntarget: comm at most 5%% over raw Gloo at 1-64 MiB (reduce_scatter: over ring, the "
      "same algorithm; raw there is Gloo's all_reduce + copy)\n");
}

}  // namespace
}  // namespace tensorpar

int main(int argc, char** argv) {
  tensorpar::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tensorpar::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  tensorpar::print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
