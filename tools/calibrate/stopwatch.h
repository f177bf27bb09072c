#pragma once
// Timing for the calibration's microbenchmarks: the median of repeated runs, after one untimed
// run (allocator caches, first touches, Adam's state).
//
//   double s = median_seconds(5, [&] { kernels::linear(x, w, b); });   // one call, median of 5
#include <algorithm>
#include <chrono>
#include <vector>

namespace tensorpar::calibrate {

inline double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The median over `reps` timed runs of f (the upper one of an even count); reps >= 1.
template <class F>
double median_seconds(int reps, F&& f) {
  f();
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    const double t0 = seconds_now();
    f();
    times.push_back(seconds_now() - t0);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace tensorpar::calibrate
