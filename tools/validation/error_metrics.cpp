#include "tools/validation/error_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace tensorpar::validation {
namespace {

void check_pair(const char* what, std::size_t a, std::size_t b, std::size_t at_least) {
  if (a != b) {
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " predictions for " +
                                std::to_string(b) + " published values");
  }
  if (a < at_least) {
    throw std::invalid_argument(std::string(what) + ": needs at least " + std::to_string(at_least) +
                                " rows, got " + std::to_string(a));
  }
}

}  // namespace

double mean_absolute_percentage_error(const std::vector<double>& predicted,
                                      const std::vector<double>& published) {
  check_pair("mean_absolute_percentage_error", predicted.size(), published.size(), 1);
  double sum = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) {
    if (published[i] == 0) {
      throw std::invalid_argument("mean_absolute_percentage_error: published[" + std::to_string(i) +
                                  "] is 0");
    }
    sum += std::abs(predicted[i] - published[i]) / std::abs(published[i]);
  }
  return sum / double(predicted.size());
}

std::vector<double> fractional_ranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return values[i] < values[j]; });
  std::vector<double> ranks(values.size());
  for (std::size_t start = 0; start < order.size();) {
    std::size_t end = start + 1;
    while (end < order.size() && values[order[end]] == values[order[start]]) ++end;
    // Positions start..end-1 hold ranks start+1..end; each takes their mean.
    const double mean_rank = double(start + 1 + end) / 2;
    for (std::size_t k = start; k < end; ++k) ranks[order[k]] = mean_rank;
    start = end;
  }
  return ranks;
}

double spearman_rank_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  check_pair("spearman_rank_correlation", a.size(), b.size(), 2);
  const std::vector<double> ra = fractional_ranks(a), rb = fractional_ranks(b);
  const double n = double(a.size());
  const double mean = (n + 1) / 2;  // of any ranking of n rows, ties included
  double cov = 0, va = 0, vb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    va += (ra[i] - mean) * (ra[i] - mean);
    vb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (va == 0 || vb == 0) {
    throw std::invalid_argument(
        "spearman_rank_correlation: " + std::string(va == 0 ? "the first" : "the second") +
        " side is constant");
  }
  return cov / std::sqrt(va * vb);
}

}  // namespace tensorpar::validation
