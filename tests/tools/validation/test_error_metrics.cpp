// The error of predictions against published measurements: mean absolute percentage error and
// Spearman's rank correlation, exact on small worked cases.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "tools/validation/error_metrics.h"

namespace tensorpar::validation {
namespace {

TEST(MeanAbsolutePercentageError, IsTheMeanOfEachRowsRelativeError) {
  EXPECT_DOUBLE_EQ(mean_absolute_percentage_error({110, 90}, {100, 100}), 0.1);
  EXPECT_DOUBLE_EQ(mean_absolute_percentage_error({1.5, 2, 4}, {1, 2, 5}), (0.5 + 0 + 0.2) / 3);
  EXPECT_DOUBLE_EQ(mean_absolute_percentage_error({-3}, {-4}), 0.25);  // relative to |published|
  EXPECT_EQ(mean_absolute_percentage_error({7, 8}, {7, 8}), 0.0);
}

TEST(MeanAbsolutePercentageError, RejectsMismatchedEmptyAndZeroPublished) {
  EXPECT_THROW(mean_absolute_percentage_error({1, 2}, {1}), std::invalid_argument);
  EXPECT_THROW(mean_absolute_percentage_error({}, {}), std::invalid_argument);
  try {
    mean_absolute_percentage_error({1, 2, 3}, {1, 2, 0});
    FAIL() << "a published 0 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "mean_absolute_percentage_error: published[2] is 0");
  }
}

TEST(FractionalRanks, RankFromOneAndTiesTakeTheirMeanRank) {
  EXPECT_EQ(fractional_ranks({3, 1, 2}), (std::vector<double>{3, 1, 2}));
  EXPECT_EQ(fractional_ranks({5, 7, 7}), (std::vector<double>{1, 2.5, 2.5}));
  EXPECT_EQ(fractional_ranks({4, 4, 4, 1}), (std::vector<double>{3, 3, 3, 1}));
}

TEST(SpearmanRankCorrelation, SameOrderIsOneReverseIsMinusOne) {
  EXPECT_DOUBLE_EQ(spearman_rank_correlation({1, 2, 3}, {10, 20, 300}), 1.0);
  EXPECT_DOUBLE_EQ(spearman_rank_correlation({1, 2, 3}, {3, 2, 1}), -1.0);
}

TEST(SpearmanRankCorrelation, MatchesTheClassicFormulaWithoutTies) {
  // rho = 1 - 6 sum d^2 / (n (n^2 - 1)): ranks (1 2 3) vs (1 3 2): 1 - 6 x 2 / 24 = 0.5.
  EXPECT_DOUBLE_EQ(spearman_rank_correlation({1, 2, 3}, {10, 30, 20}), 0.5);
  // (1 2 3 4 5) vs (2 1 4 3 5): sum d^2 = 4, 1 - 24 / 120 = 0.8.
  EXPECT_DOUBLE_EQ(spearman_rank_correlation({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8);
}

TEST(SpearmanRankCorrelation, TiesArePearsonOverMeanRanks) {
  // ranks (1 2 3 4) vs (1 2.5 2.5 4): cov 4.5, variances 5 and 4.5 -> 4.5 / sqrt(22.5).
  EXPECT_DOUBLE_EQ(spearman_rank_correlation({1, 2, 3, 4}, {1, 2, 2, 3}), 3 / std::sqrt(10.0));
}

TEST(SpearmanRankCorrelation, RejectsMismatchedTooFewAndConstantSides) {
  EXPECT_THROW(spearman_rank_correlation({1, 2}, {1, 2, 3}), std::invalid_argument);
  EXPECT_THROW(spearman_rank_correlation({1}, {1}), std::invalid_argument);
  try {
    spearman_rank_correlation({1, 2, 3}, {5, 5, 5});
    FAIL() << "a constant side was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "spearman_rank_correlation: the second side is constant");
  }
}

}  // namespace
}  // namespace tensorpar::validation
