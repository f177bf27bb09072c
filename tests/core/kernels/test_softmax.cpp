// softmax / log_softmax and their backwards against naive loops and finite differences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/kernels/softmax.h"
#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::kernels {
namespace {

using testing::expect_error;

Tensor random_normal(const Shape& shape, std::uint64_t seed, DType dtype = DType::Float64) {
  Generator gen(seed);
  return randn(shape, gen, dtype).mul_(3.0);
}

// Softmax (or log-softmax) along `dim` by three nested loops in double.
Tensor reference(const Tensor& x, std::int64_t dim, bool log) {
  const Shape& s = x.shape();
  const std::int64_t d = dim < 0 ? dim + x.dim() : dim;
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t k = 0; k < d; ++k) outer *= s[k];
  for (std::int64_t k = d + 1; k < x.dim(); ++k) inner *= s[k];
  const std::int64_t n = s[d];
  std::vector<double> v = to_vector<double>(x), y(v.size());
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      auto at = [&](std::int64_t j) { return (o * n + j) * inner + i; };
      double m = -INFINITY, total = 0;
      for (std::int64_t j = 0; j < n; ++j) m = std::max(m, v[at(j)]);
      for (std::int64_t j = 0; j < n; ++j) total += std::exp(v[at(j)] - m);
      for (std::int64_t j = 0; j < n; ++j) {
        y[at(j)] = log ? v[at(j)] - m - std::log(total) : std::exp(v[at(j)] - m) / total;
      }
    }
  }
  return from_vector(y, s);
}

// d(sum(w * f(x)))/dx by central differences, in double.
Tensor numeric_grad(const Tensor& x, const Tensor& w, const std::function<Tensor(Tensor)>& f) {
  const double h = 1e-6;
  Tensor g = zeros(x.shape(), DType::Float64);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    Tensor plus = x.clone(), minus = x.clone();
    plus.data<double>()[i] += h;
    minus.data<double>()[i] -= h;
    g.data<double>()[i] = (sum(w * f(plus)).item() - sum(w * f(minus)).item()) / (2 * h);
  }
  return g;
}

double relative_error(const Tensor& actual, const Tensor& expected) {
  const double scale = max_abs_diff(expected, zeros(expected.shape(), expected.dtype()));
  return max_abs_diff(actual, expected) / std::max(scale, 1e-300);
}

TEST(KernelNnSoftmax, MatchesNaiveLoopAlongEveryDimOfAnOddShape) {
  const Tensor x = random_normal({3, 5, 7}, 1);
  for (std::int64_t dim : {0, 1, 2, -1, -2, -3}) {
    SCOPED_TRACE(dim);
    EXPECT_LT(max_abs_diff(kernels::softmax(x, dim), reference(x, dim, false)), 1e-15);
    EXPECT_LT(max_abs_diff(kernels::log_softmax(x, dim), reference(x, dim, true)), 1e-13);
  }
}

TEST(KernelNnSoftmax, Float32MatchesTheFloat64Reference) {
  const Tensor x = random_normal({3, 5, 7}, 2, DType::Float32);
  for (std::int64_t dim : {0, 1, 2}) {
    SCOPED_TRACE(dim);
    const Tensor y = kernels::softmax(x, dim), ly = kernels::log_softmax(x, dim);
    EXPECT_EQ(y.dtype(), DType::Float32);
    EXPECT_LT(max_abs_diff(y, reference(x, dim, false)), 1e-6);
    EXPECT_LT(max_abs_diff(ly, reference(x, dim, true)), 1e-5);
  }
}

TEST(KernelNnSoftmax, SubtractsTheMaximumSoLargeLogitsDoNotOverflow) {
  const Tensor x = from_vector<float>({1000, 1001, 1002}, {3});
  const std::vector<double> y = to_vector<double>(kernels::softmax(x, 0));
  const double total = 1 + std::exp(1.0) + std::exp(2.0);
  EXPECT_NEAR(y[0], 1 / total, 1e-7);
  EXPECT_NEAR(y[2], std::exp(2.0) / total, 1e-7);
  EXPECT_NEAR(to_vector<double>(kernels::log_softmax(x, 0))[0], -std::log(total), 1e-5);
}

TEST(KernelNnSoftmax, LogSoftmaxOfAWorkedExample) {
  const Tensor x = from_vector<double>({0, std::log(3.0)}, {2});
  EXPECT_THAT(to_vector<double>(kernels::log_softmax(x, -1)),
              ::testing::ElementsAre(::testing::DoubleNear(std::log(0.25), 1e-15),
                                     ::testing::DoubleNear(std::log(0.75), 1e-15)));
}

TEST(KernelNnSoftmax, ASizeOneDimGivesOnesAndZeros) {
  const Tensor x = random_normal({4, 1, 3}, 3);
  EXPECT_TRUE(equal(kernels::softmax(x, 1), ones({4, 1, 3}, DType::Float64)));
  EXPECT_TRUE(equal(kernels::log_softmax(x, 1), zeros({4, 1, 3}, DType::Float64)));
}

TEST(KernelNnSoftmax, AZeroDimTensorIsOneElementRow) {
  const Tensor x = full({}, 5.0, DType::Float64);
  EXPECT_EQ(kernels::softmax(x, 0).item(), 1.0);
  EXPECT_EQ(kernels::log_softmax(x, -1).item(), 0.0);
}

TEST(KernelNnSoftmax, AnEmptyTensorGivesAnEmptyResult) {
  EXPECT_EQ(kernels::softmax(zeros({0, 3}), 1).shape(), (Shape{0, 3}));
}

TEST(KernelNnSoftmax, ARowOfMinusInfinityIsNaN) {
  const Tensor x = full({1, 2}, -INFINITY, DType::Float64);
  EXPECT_TRUE(std::isnan(to_vector<double>(kernels::softmax(x, 1))[0]));
}

TEST(KernelNnSoftmax, SoftmaxBackwardMatchesFiniteDifferences) {
  const Tensor x = random_normal({3, 5, 7}, 4), w = random_normal({3, 5, 7}, 5);
  for (std::int64_t dim : {0, 1, 2}) {
    SCOPED_TRACE(dim);
    const Tensor analytic = softmax_backward(w, kernels::softmax(x, dim), dim);
    const Tensor numeric = numeric_grad(x, w, [&](Tensor t) { return kernels::softmax(t, dim); });
    EXPECT_LT(relative_error(analytic, numeric), 1e-6);
  }
}

TEST(KernelNnSoftmax, LogSoftmaxBackwardMatchesFiniteDifferences) {
  const Tensor x = random_normal({3, 5, 7}, 6), w = random_normal({3, 5, 7}, 7);
  for (std::int64_t dim : {0, 1, -1}) {
    SCOPED_TRACE(dim);
    const Tensor analytic = log_softmax_backward(w, kernels::log_softmax(x, dim), dim);
    const Tensor numeric =
        numeric_grad(x, w, [&](Tensor t) { return kernels::log_softmax(t, dim); });
    EXPECT_LT(relative_error(analytic, numeric), 1e-6);
  }
}

TEST(KernelNnSoftmax, BackwardsInFloat32MatchFloat64) {
  const Tensor x = random_normal({4, 6}, 8), g = random_normal({4, 6}, 9);
  const Tensor x32 = x.to(DType::Float32), g32 = g.to(DType::Float32);
  EXPECT_LT(max_abs_diff(softmax_backward(g32, kernels::softmax(x32, 1), 1),
                         softmax_backward(g, kernels::softmax(x, 1), 1)),
            1e-5);
  EXPECT_LT(max_abs_diff(log_softmax_backward(g32, kernels::log_softmax(x32, 0), 0),
                         log_softmax_backward(g, kernels::log_softmax(x, 0), 0)),
            1e-5);
}

TEST(KernelNnSoftmax, RejectsOtherDtypes) {
  expect_error<std::invalid_argument>([] { kernels::softmax(zeros({2}, DType::Int64), 0); },
                                      "softmax: dtype int64 is not supported");
  expect_error<std::invalid_argument>([] { kernels::log_softmax(zeros({2}, DType::BFloat16), 0); },
                                      "log_softmax: dtype bfloat16 is not supported");
}

TEST(KernelNnSoftmax, RejectsADimOutOfRange) {
  expect_error<std::out_of_range>(
      [] {
        kernels::softmax(zeros({2, 3}), 2);
      },
      "softmax: dim 2 is out of range for a tensor of 2 dims");
}

TEST(KernelNnSoftmax, BackwardRejectsMismatchedGrad) {
  expect_error<std::invalid_argument>(
      [] {
        softmax_backward(zeros({2, 3}), zeros({3, 2}), 0);
      },
      "softmax_backward: grad shape [2, 3] does not match output shape [3, 2]");
  expect_error<std::invalid_argument>(
      [] { log_softmax_backward(zeros({2}, DType::Float64), zeros({2}), 0); },
      "log_softmax_backward: grad dtype float64 does not match output dtype float32");
}

TEST(KernelNnSoftmax, RejectsAnUndefinedInput) {
  expect_error<std::invalid_argument>([] { kernels::softmax(Tensor(), 0); },
                                      "softmax: input is undefined");
}

}  // namespace
}  // namespace tensorpar::kernels
