#pragma once
// Timing for the calibration's microbenchmarks: the lower quartile of repeated runs, after one
// untimed run (allocator caches, first touches). Other processes on a shared machine only ever
// add time to a run, so the faster runs measure the machine rather than its load; the quartile
// rather than the minimum keeps one lucky run from standing for all.
//
//   double s = lower_quartile_seconds(9, [&] { kernels::linear(x, w, b); });  // 3rd fastest of 9
#include <algorithm>
#include <chrono>
#include <vector>

namespace tensorpar::calibrate {

inline double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The value a quarter of `samples` are at or below (index (n - 1) / 4 of the sorted samples: the
// minimum for up to 4 samples); samples must not be empty.
inline double lower_quartile(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[(samples.size() - 1) / 4];
}

// The lower quartile of `reps` timed runs of f (reps >= 1).
template <class F>
double lower_quartile_seconds(int reps, F&& f) {
  f();
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    const double t0 = seconds_now();
    f();
    times.push_back(seconds_now() - t0);
  }
  return lower_quartile(std::move(times));
}

}  // namespace tensorpar::calibrate
