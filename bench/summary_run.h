#pragma once
// Which of Google Benchmark's reported runs summarise a benchmark, for the reporters that print
// ratios after the usual table: the median when --benchmark_repetitions gives one, else the
// single run; never a run that failed.
//
//   --benchmark_repetitions=3: BM_X (x3, skipped), BM_X_mean (skipped), BM_X_median (taken)
//   no repetitions:            BM_X (taken)
#include <benchmark/benchmark.h>

namespace tensorpar::bench {

inline bool summarises(const benchmark::BenchmarkReporter::Run& run) {
  using Run = benchmark::BenchmarkReporter::Run;
  if (run.error_occurred) return false;
  const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
  const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
  return median || single;
}

}  // namespace tensorpar::bench
