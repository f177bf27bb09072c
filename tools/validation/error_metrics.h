#pragma once
// How far a model's predictions are from published measurements, over a set of rows: the mean
// absolute percentage error (how far off, on average) and Spearman's rank correlation (whether
// the predictions order the rows as the measurements do: 1 the same order, -1 the reverse).
//
//   mean_absolute_percentage_error({110, 90}, {100, 100});   // (10% + 10%) / 2 = 0.10
//   spearman_rank_correlation({1, 2, 3}, {10, 30, 20});       // ranks (1 2 3) vs (1 3 2): 0.5
//
// Ties take the mean of the ranks they span ({5, 7, 7} ranks as {1, 2.5, 2.5}), and the
// correlation is Pearson's over the ranks, so ties are handled exactly.
#include <vector>

namespace tensorpar::validation {

// mean over i of |predicted[i] - published[i]| / |published[i]|, as a fraction (0.1 = 10%).
// std::invalid_argument: sizes differ, no rows, or a published value of 0 ("published[2] is 0").
double mean_absolute_percentage_error(const std::vector<double>& predicted,
                                      const std::vector<double>& published);

// The ranks of values, from 1, ties taking their mean rank.
std::vector<double> fractional_ranks(const std::vector<double>& values);

// Spearman's rho in [-1, 1]. std::invalid_argument: sizes differ, fewer than 2 rows, or either
// side constant (every rank equal: the correlation is undefined).
double spearman_rank_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace tensorpar::validation
