#pragma once
// From measured rates by size to a peak and an efficiency curve (core/cost/hardware.h's
// EfficiencyCurve): the peak is the highest rate measured, the curve each size's rate over it.
//
//   rate_curve({{1e6, 50e9}, {1e8, 100e9}, {1e9, 80e9}})
//     -> peak 100e9, efficiency {(1e6, 0.5), (1e8, 1.0), (1e9, 0.8)}
//
// Points of equal size are merged into one whose rate is their mean; the curve's points are
// sorted by size. Sizes are what one call does (FLOPs of a GEMM, bytes a memory-bound kernel
// moves); rates are per second.
#include <vector>

#include "core/cost/hardware.h"

namespace tensorpar::calibrate {

struct RatePoint {
  double size = 0;  // FLOPs or bytes of one call
  double rate = 0;  // FLOP/s or B/s that call reached
};

struct RateCurve {
  double peak = 0;
  cost::EfficiencyCurve efficiency;
};

// std::invalid_argument for no points, or a size or rate that is not positive and finite
// ("rate_curve: point 2 has rate 0").
RateCurve rate_curve(std::vector<RatePoint> points);

}  // namespace tensorpar::calibrate
