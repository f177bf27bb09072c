// Tensor allocation through the caching CPU allocator versus raw aligned_alloc: allocate, touch
// every page once, free; 4 KiB, 1 MiB and 16 MiB, on one thread and on four at once (the sim
// backend's rank threads), and a mix of eight large buffers alive at once as in a training step.
// Tensor::empty also pays for its handle and shape (two shared_ptrs), so the uncached column shows
// that bookkeeping alone. glibc keeps a single freed block of a size for the next request once its
// mmap threshold has grown, so the one-size loops flatter raw malloc; the step mix does not.
// A table of ratios follows the usual output.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/summary_run.h"
#include "core/ops/ops.h"

namespace tensorpar {
namespace {

constexpr std::size_t kPage = 4096;

void touch(void* data, std::size_t nbytes) {
  auto* bytes = static_cast<volatile char*>(data);
  for (std::size_t i = 0; i < nbytes; i += kPage) bytes[i] = 1;
}

// Where the bytes come from: raw aligned_alloc/free, or Tensor::empty with the cache on or off.
enum class Source { Raw, Cached, Uncached };

// An allocation that lives for one scope, from `source`.
class Buffer {
 public:
  Buffer(Source source, std::size_t nbytes) : nbytes_(nbytes) {
    if (source == Source::Raw) {
      raw_ = std::aligned_alloc(64, nbytes);
      benchmark::DoNotOptimize(raw_);
    } else {
      tensor_ = Tensor::empty({std::int64_t(nbytes / 4)});
    }
  }
  ~Buffer() { reset(); }
  Buffer(Buffer&& other) noexcept
      : nbytes_(other.nbytes_), raw_(std::exchange(other.raw_, nullptr)),
        tensor_(std::move(other.tensor_)) {}
  void reset() {
    std::free(std::exchange(raw_, nullptr));
    tensor_ = Tensor();
  }
  void touch() { tensorpar::touch(raw_ != nullptr ? raw_ : tensor_.data_ptr(), nbytes_); }

 private:
  std::size_t nbytes_;
  void* raw_ = nullptr;
  Tensor tensor_;
};

// Thread 0 switches the cache before the loop; the loop's start and end are barriers for all
// threads.
class CacheMode {
 public:
  CacheMode(const benchmark::State& state, Source source) : switch_(state.thread_index() == 0) {
    if (switch_) set_cpu_cache_enabled(source != Source::Uncached);
  }
  ~CacheMode() {
    if (switch_) set_cpu_cache_enabled(true);
  }

 private:
  bool switch_;
};

// One buffer of range(0) bytes: allocate, touch, free.
template <Source source>
void BM_Single(benchmark::State& state) {
  CacheMode mode(state, source);
  const std::size_t nbytes = std::size_t(state.range(0));
  for (auto _ : state) Buffer(source, nbytes).touch();
  state.SetBytesProcessed(state.iterations() * std::int64_t(nbytes));
}

// A training step in miniature: eight buffers of mixed sizes (1 to 16 MiB, 58 MiB in all) live at
// once, freed in another order than made.
template <Source source>
void BM_Step(benchmark::State& state) {
  CacheMode mode(state, source);
  constexpr std::size_t kMiB = 1 << 20;
  const std::size_t sizes[] = {16 * kMiB, 4 * kMiB, 16 * kMiB, kMiB,
                               8 * kMiB,  2 * kMiB, 8 * kMiB,  3 * kMiB};
  std::int64_t total = 0;
  for (std::size_t n : sizes) total += std::int64_t(n);
  for (auto _ : state) {
    std::vector<Buffer> live;
    live.reserve(std::size(sizes));
    for (std::size_t n : sizes) live.emplace_back(source, n).touch();
    for (std::size_t i = 0; i < live.size(); i += 2) live[i].reset();  // even first, odd after
  }
  state.SetBytesProcessed(state.iterations() * total);
}

void sizes_and_threads(benchmark::internal::Benchmark* b) {
  b->Arg(4 << 10)->Arg(1 << 20)->Arg(16 << 20)->Threads(1)->Threads(4)->UseRealTime();
}
void threads(benchmark::internal::Benchmark* b) { b->Threads(1)->Threads(4)->UseRealTime(); }
BENCHMARK(BM_Single<Source::Raw>)->Name("BM_Raw_Single")->Apply(sizes_and_threads);
BENCHMARK(BM_Single<Source::Cached>)->Name("BM_Cached_Single")->Apply(sizes_and_threads);
BENCHMARK(BM_Single<Source::Uncached>)->Name("BM_Uncached_Single")->Apply(sizes_and_threads);
BENCHMARK(BM_Step<Source::Raw>)->Name("BM_Raw_Step")->Apply(threads);
BENCHMARK(BM_Step<Source::Cached>)->Name("BM_Cached_Step")->Apply(threads);
BENCHMARK(BM_Step<Source::Uncached>)->Name("BM_Uncached_Step")->Apply(threads);

// Console output plus, at the end, raw / tensor time per size and thread count.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_None) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (!bench::summarises(run)) continue;
      const bool median = run.run_type == Run::RT_Aggregate;
      const std::string name = run.benchmark_name();  // BM_Cached_Single/4096/real_time/threads:4
      const std::size_t kind_end = name.find('_', 3);
      std::string config = name.substr(kind_end + 1);
      if (median) config.resize(config.size() - std::string("_median").size());
      seconds_[config][name.substr(3, kind_end - 3)] = run.GetAdjustedRealTime();
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nraw time / Tensor::empty time (above 1: the tensor is faster)\n");
    std::printf("%-34s %10s %10s\n", "case", "cached", "uncached");
    for (auto& [config, times] : seconds_) {
      const double raw = times["Raw"];
      std::printf("%-34s %9.2fx %9.2fx\n", config.c_str(), raw / times["Cached"],
                  raw / times["Uncached"]);
    }
  }

 private:
  std::map<std::string, std::map<std::string, double>> seconds_;
};

}  // namespace
}  // namespace tensorpar

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tensorpar::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
