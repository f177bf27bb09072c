// Checkpoint throughput against a plain file copy of the same bytes, in the same run: saving
// 64 MiB of float32 weights (four [1024, 4096] parameters) from 4 simulated ranks ([S(0)]) and
// from one device, loading it back in the same layout, resharded onto 3 ranks ([S(1)], uneven
// column runs) and onto one device; against copying the checkpoint's files with
// std::filesystem::copy_file, flushed (fsync, as a save flushes) and not. Each iteration times
// the save or load alone (manual time: from a barrier before to a barrier after), not building
// the model. Reads come from the page cache after the first iteration, as do the copy's.
// A table of GB/s and ratios to the copies follows the usual output.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "bench/summary_run.h"
#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/comm/rank_context.h"
#include "core/dtensor/dtensor.h"
#include "sim/world.h"

namespace tensorpar {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kRows = 1024, kCols = 4096, kParams = 4;
constexpr double kBytes = double(kRows * kCols * kParams * 4);

class Weights : public nn::Module {
 public:
  Weights() {
    for (int i = 0; i < kParams; ++i) {
      register_parameter(cat("w", i),
                         full({kRows, kCols}, double(i + 1), DType::Float32).requires_grad_());
    }
  }
};

// Parameters distributed over `world` ranks with `placement` (none: plain tensors).
void distribute(Weights& m, int world, const Placement& placement) {
  if (world == 1) return;
  const DeviceMesh mesh({world});
  for (int i = 0; i < kParams; ++i) {
    NoGradGuard no_grad;
    const std::string name = cat("w", i);
    DTensor d = distribute_tensor(m.parameter(name).detach(), mesh, {placement}, std::nullopt);
    m.set_parameter(name, d.requires_grad_());
  }
}

std::string folder(const std::string& name) {
  return (fs::temp_directory_path() / cat("tensorpar-bench-checkpoint-", ::getpid()) / name)
      .string();
}

// Seconds of `op` on every rank: from a barrier before it to a barrier after it.
template <class Op>
double timed(int world, const Placement& placement, Op op) {
  auto body = [&](int) {
    Weights m;
    distribute(m, world, placement);
    if (has_current_world()) current_world().barrier()->wait();
    const auto t0 = std::chrono::steady_clock::now();
    op(m);
    if (has_current_world()) current_world().barrier()->wait();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  return world == 1 ? body(0) : sim::run(world, body)[0];
}

// The checkpoint every load reads: saved once from 4 ranks.
const std::string& saved_checkpoint() {
  static const std::string dir = [] {
    const std::string d = folder("source");
    timed(4, Shard(0), [&](Weights& m) { checkpoint::save_checkpoint(d, m, nullptr); });
    return d;
  }();
  return dir;
}

void BM_Save(benchmark::State& state) {
  const int world = int(state.range(0));
  const std::string dir = folder(cat("save", world));
  for (auto _ : state) {
    state.SetIterationTime(
        timed(world, Shard(0), [&](Weights& m) { checkpoint::save_checkpoint(dir, m, nullptr); }));
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * kBytes));
}

void BM_Load(benchmark::State& state) {
  const int world = int(state.range(0));
  const Placement placement = world == 4 ? Shard(0) : Shard(1);
  const std::string& dir = saved_checkpoint();
  for (auto _ : state) {
    state.SetIterationTime(
        timed(world, placement, [&](Weights& m) { checkpoint::load_checkpoint(dir, m, nullptr); }));
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * kBytes));
}

// Every file of the saved checkpoint copied into another folder, flushed when `sync`.
void BM_Copy(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const std::string& source = saved_checkpoint();
  const std::string target = folder("copy");
  fs::create_directories(target);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& entry : fs::directory_iterator(source)) {
      const fs::path to = fs::path(target) / entry.path().filename();
      fs::copy_file(entry.path(), to, fs::copy_options::overwrite_existing);
      if (sync) {
        const int fd = ::open(to.c_str(), O_WRONLY);
        ::fsync(fd);
        ::close(fd);
      }
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * kBytes));
}

BENCHMARK(BM_Save)->ArgName("world")->Arg(4)->Arg(1)->UseManualTime()->Unit(
    benchmark::kMillisecond);
BENCHMARK(BM_Load)->ArgName("world")->Arg(4)->Arg(3)->Arg(1)->UseManualTime()->Unit(
    benchmark::kMillisecond);
BENCHMARK(BM_Copy)->ArgName("fsync")->Arg(1)->Arg(0)->UseManualTime()->Unit(
    benchmark::kMillisecond);

// Console output plus, at the end, GB/s of every case and its ratio to the two copies.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_None) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (!bench::summarises(run)) continue;
      std::string name = run.benchmark_name();  // BM_Load/world:3/manual_time
      name = name.substr(3, name.find("/manual_time") - 3);
      seconds_[name] = run.GetAdjustedRealTime() * 1e-3;  // milliseconds
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const double synced = seconds_["Copy/fsync:1"], plain = seconds_["Copy/fsync:0"];
    std::printf(
        "\n%.0f MiB per case; ratio = copy time / case time (above 1: faster than the copy)\n",
        kBytes / (1 << 20));
    std::printf("%-16s %8s %16s %16s\n", "case", "GB/s", "vs copy+fsync", "vs copy");
    for (const auto& [name, s] : seconds_) {
      std::printf("%-16s %8.2f %15.2fx %15.2fx\n", name.c_str(), kBytes / s * 1e-9, synced / s,
                  plain / s);
    }
  }

 private:
  std::map<std::string, double> seconds_;
};

}  // namespace
}  // namespace tensorpar

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tensorpar::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(tensorpar::folder(""), ignored);
  return 0;
}
