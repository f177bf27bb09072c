// rate_curve: measured rates by size -> the peak and the efficiency curve of a profile.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

#include "tools/calibrate/rate_curve.h"

namespace tensorpar::calibrate {
namespace {

TEST(RateCurve, PeakIsTheBestRateAndTheCurveEachRateOverIt) {
  const RateCurve c = rate_curve({{1e9, 80e9}, {1e6, 50e9}, {1e8, 100e9}});
  EXPECT_EQ(c.peak, 100e9);
  ASSERT_EQ(c.efficiency.points.size(), 3u);
  EXPECT_EQ(c.efficiency.points[0], (std::pair{1e6, 0.5}));
  EXPECT_EQ(c.efficiency.points[1], (std::pair{1e8, 1.0}));
  EXPECT_EQ(c.efficiency.points[2], (std::pair{1e9, 0.8}));
}

TEST(RateCurve, PointsOfEqualSizeMergeIntoTheirMeanRate) {
  const RateCurve c = rate_curve({{4.0, 10.0}, {2.0, 40.0}, {4.0, 30.0}});
  EXPECT_EQ(c.peak, 40.0);
  ASSERT_EQ(c.efficiency.points.size(), 2u);
  EXPECT_EQ(c.efficiency.points[0], (std::pair{2.0, 1.0}));
  EXPECT_EQ(c.efficiency.points[1], (std::pair{4.0, 0.5}));  // mean 20 of peak 40
}

TEST(RateCurve, OnePointIsItsOwnPeak) {
  const RateCurve c = rate_curve({{3.0, 7.0}});
  EXPECT_EQ(c.peak, 7.0);
  EXPECT_EQ(c.efficiency.points, (std::vector<std::pair<double, double>>{{3.0, 1.0}}));
}

TEST(RateCurve, RejectsNoPointsAndNonPositiveOrNonFiniteValuesNamingThePoint) {
  EXPECT_THROW(rate_curve({}), std::invalid_argument);
  try {
    rate_curve({{1, 1}, {2, 1}, {3, 0}});
    FAIL() << "a zero rate was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "rate_curve: point 2 has rate 0");
  }
  EXPECT_THROW(rate_curve({{-1, 1}}), std::invalid_argument);
  EXPECT_THROW(rate_curve({{1, std::numeric_limits<double>::infinity()}}), std::invalid_argument);
  EXPECT_THROW(rate_curve({{std::numeric_limits<double>::quiet_NaN(), 1}}), std::invalid_argument);
}

}  // namespace
}  // namespace tensorpar::calibrate
