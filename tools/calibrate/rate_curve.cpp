#include "tools/calibrate/rate_curve.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace tensorpar::calibrate {

RateCurve rate_curve(std::vector<RatePoint> points) {
  if (points.empty()) throw std::invalid_argument("rate_curve: no points");
  for (std::size_t i = 0; i < points.size(); ++i) {
    const RatePoint& p = points[i];
    const auto bad = [&](const char* what, double v) {
      std::ostringstream message;
      message << "rate_curve: point " << i << " has " << what << " " << v;
      throw std::invalid_argument(message.str());
    };
    if (!(std::isfinite(p.size) && p.size > 0)) bad("size", p.size);
    if (!(std::isfinite(p.rate) && p.rate > 0)) bad("rate", p.rate);
  }
  std::stable_sort(points.begin(), points.end(),
                   [](const RatePoint& a, const RatePoint& b) { return a.size < b.size; });
  std::vector<RatePoint> merged;
  std::vector<int> counts;
  for (const RatePoint& p : points) {
    if (!merged.empty() && merged.back().size == p.size) {
      merged.back().rate += p.rate;
      ++counts.back();
    } else {
      merged.push_back(p);
      counts.push_back(1);
    }
  }
  RateCurve curve;
  for (std::size_t i = 0; i < merged.size(); ++i) {
    merged[i].rate /= counts[i];
    curve.peak = std::max(curve.peak, merged[i].rate);
  }
  for (const RatePoint& p : merged)
    curve.efficiency.points.emplace_back(p.size, p.rate / curve.peak);
  return curve;
}

}  // namespace tensorpar::calibrate
