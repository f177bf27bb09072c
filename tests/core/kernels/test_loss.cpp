// cross_entropy / nll_loss and their backwards against naive loops and finite differences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/kernels/loss.h"
#include "core/kernels/softmax.h"
#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::kernels {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using testing::expect_error;

constexpr Reduction kAllReductions[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

Tensor random_normal(const Shape& shape, std::uint64_t seed, DType dtype = DType::Float64) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

Tensor targets(const std::vector<std::int64_t>& t, const Shape& shape) {
  return from_vector(t, shape);
}

// Cross-entropy by loops in double over logits [N, C, inner...]: {per-position losses, total
// weight}.
std::pair<std::vector<double>, double> reference(const Tensor& logits, const Tensor& target,
                                                 const Tensor& weight, std::int64_t ignore) {
  const std::int64_t N = logits.size(0), C = logits.size(1), inner = logits.numel() / (N * C);
  const std::vector<double> x = to_vector<double>(logits);
  const std::vector<std::int64_t> t = to_vector<std::int64_t>(target);
  std::vector<double> losses;
  double total_weight = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t k = 0; k < inner; ++k) {
      const std::int64_t cls = t[n * inner + k];
      if (cls == ignore) {
        losses.push_back(0);
        continue;
      }
      double total = 0;
      for (std::int64_t c = 0; c < C; ++c) total += std::exp(x[(n * C + c) * inner + k]);
      const double w = weight.defined() ? to_vector<double>(weight)[cls] : 1.0;
      losses.push_back(-w * (x[(n * C + cls) * inner + k] - std::log(total)));
      total_weight += w;
    }
  }
  return {losses, total_weight};
}

double reduced(const std::vector<double>& losses, double total_weight, Reduction r) {
  double total = 0;
  for (double l : losses) total += l;
  return r == Reduction::Sum ? total : total / total_weight;
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

TEST(KernelNnLoss, ReductionNamesRoundTrip) {
  for (Reduction r : kAllReductions) EXPECT_EQ(parse_reduction(reduction_name(r)), r);
  EXPECT_STREQ(reduction_name(Reduction::Mean), "mean");
  expect_error<std::invalid_argument>(
      [] { parse_reduction("avg"); },
      "cross_entropy: reduction must be none, mean or sum, got 'avg'");
}

TEST(KernelNnLoss, CrossEntropyOfTheWorkedExample) {
  const Tensor logits = from_vector<double>({0, 0, 0, std::log(3.0)}, {2, 2});
  const Tensor w = from_vector<double>({1, 3}, {2});
  const CrossEntropyResult none =
      kernels::cross_entropy(logits, targets({0, 1}, {2}), w, -100, Reduction::None);
  EXPECT_THAT(to_vector<double>(none.loss), ElementsAre(DoubleNear(std::log(2.0), 1e-15),
                                                        DoubleNear(3 * std::log(4.0 / 3), 1e-15)));
  EXPECT_EQ(none.total_weight.item(), 4.0);
  EXPECT_EQ(none.total_weight.shape(), Shape{});
  const CrossEntropyResult mean =
      kernels::cross_entropy(logits, targets({0, 1}, {2}), w, -100, Reduction::Mean);
  EXPECT_NEAR(mean.loss.item(), (std::log(2.0) + 3 * std::log(4.0 / 3)) / 4, 1e-15);
  EXPECT_EQ(mean.loss.shape(), Shape{});
}

TEST(KernelNnLoss, CrossEntropyMatchesNaiveLoopForEveryReduction) {
  const Tensor logits = random_normal({6, 5}, 1), w = full({5}, 0.5, DType::Float64);
  const Tensor t = targets({4, 0, -100, 2, 2, 1}, {6});
  const auto [losses, total_weight] = reference(logits, t, w, -100);
  const CrossEntropyResult none = kernels::cross_entropy(logits, t, w, -100, Reduction::None);
  EXPECT_LT(max_abs_diff(none.loss, from_vector(losses, {6})), 1e-14);
  EXPECT_EQ(to_vector<double>(none.loss)[2], 0.0);
  EXPECT_LT(max_abs_diff(none.log_probs, kernels::log_softmax(logits, 1)), 1e-15);
  for (Reduction r : {Reduction::Mean, Reduction::Sum}) {
    const CrossEntropyResult res = kernels::cross_entropy(logits, t, w, -100, r);
    EXPECT_NEAR(res.loss.item(), reduced(losses, total_weight, r), 1e-14) << reduction_name(r);
    EXPECT_DOUBLE_EQ(res.total_weight.item(), 2.5);
  }
}

TEST(KernelNnLoss, ClassWeightsScaleLossesAndTheMeanDenominator) {
  const Tensor logits = random_normal({4, 3}, 3), w = from_vector<double>({0.5, 2, 4}, {3});
  const Tensor t = targets({2, 0, 1, 2}, {4});
  const auto [losses, total_weight] = reference(logits, t, w, -100);
  EXPECT_DOUBLE_EQ(total_weight, 10.5);
  const CrossEntropyResult mean = kernels::cross_entropy(logits, t, w, -100, Reduction::Mean);
  EXPECT_NEAR(mean.loss.item(), reduced(losses, total_weight, Reduction::Mean), 1e-14);
  EXPECT_DOUBLE_EQ(mean.total_weight.item(), 10.5);
}

TEST(KernelNnLoss, CrossEntropyFloat32MatchesTheReference) {
  const Tensor logits = random_normal({5, 7}, 4, DType::Float32);
  const Tensor t = targets({6, 0, 3, 3, 1}, {5});
  const auto [losses, total_weight] = reference(logits, t, Tensor(), -100);
  const CrossEntropyResult none =
      kernels::cross_entropy(logits, t, Tensor(), -100, Reduction::None);
  EXPECT_EQ(none.loss.dtype(), DType::Float32);
  EXPECT_LT(max_abs_diff(none.loss, from_vector(losses, {5})), 1e-5);
  EXPECT_NEAR(kernels::cross_entropy(logits, t, Tensor(), -100, Reduction::Mean).loss.item(),
              reduced(losses, total_weight, Reduction::Mean), 1e-5);
}

TEST(KernelNnLoss, SpatialInputsPutClassesOnDim1) {
  const Tensor logits = random_normal({2, 4, 3, 2}, 5), w = from_vector<double>({1, 2, 3, 4}, {4});
  const Tensor t = targets({0, 3, 2, 1, 7, 0, 3, 3, 2, 1, 0, 7}, {2, 3, 2});
  const auto [losses, total_weight] = reference(logits, t, w, 7);
  const CrossEntropyResult none = kernels::cross_entropy(logits, t, w, 7, Reduction::None);
  EXPECT_EQ(none.loss.shape(), (Shape{2, 3, 2}));
  EXPECT_LT(max_abs_diff(none.loss, from_vector(losses, {2, 3, 2})), 1e-14);
  EXPECT_NEAR(kernels::cross_entropy(logits, t, w, 7, Reduction::Sum).loss.item(),
              reduced(losses, total_weight, Reduction::Sum), 1e-13);
  EXPECT_NEAR(kernels::cross_entropy(logits, t, w, 7, Reduction::Mean).loss.item(),
              reduced(losses, total_weight, Reduction::Mean), 1e-14);
}

TEST(KernelNnLoss, UnbatchedLogitsTakeA0DTarget) {
  const Tensor logits = from_vector<double>({0, std::log(3.0)}, {2});
  const CrossEntropyResult r =
      kernels::cross_entropy(logits, full({}, 1.0, DType::Int64), Tensor(), -100, Reduction::None);
  EXPECT_EQ(r.loss.shape(), Shape{});
  EXPECT_NEAR(r.loss.item(), -std::log(0.75), 1e-15);
}

TEST(KernelNnLoss, AllIgnoredMeanIsNaN) {
  const Tensor logits = random_normal({3, 4}, 6), t = targets({-100, -100, -100}, {3});
  const CrossEntropyResult mean =
      kernels::cross_entropy(logits, t, Tensor(), -100, Reduction::Mean);
  EXPECT_TRUE(std::isnan(mean.loss.item()));
  EXPECT_EQ(mean.total_weight.item(), 0.0);
  EXPECT_EQ(kernels::cross_entropy(logits, t, Tensor(), -100, Reduction::Sum).loss.item(), 0.0);
  const Tensor grad = cross_entropy_backward(ones({}, DType::Float64), mean.log_probs, t, Tensor(),
                                             -100, Reduction::Sum, mean.total_weight);
  EXPECT_TRUE(equal(grad, zeros({3, 4}, DType::Float64)));
}

TEST(KernelNnLoss, CrossEntropyBackwardMatchesFiniteDifferences) {
  const Tensor logits = random_normal({3, 4, 5}, 7), w = from_vector<double>({0.5, 1, 2, 3}, {4});
  const Tensor t = targets({0, 3, -1, 2, 1, 1, 2, 3, 0, -1, 3, 2, 1, 0, 0}, {3, 5});
  for (Reduction r : kAllReductions) {
    SCOPED_TRACE(reduction_name(r));
    const CrossEntropyResult res = kernels::cross_entropy(logits, t, w, -1, r);
    const Tensor g =
        r == Reduction::None ? random_normal({3, 5}, 8) : full({}, 1.7, DType::Float64);
    const Tensor analytic = cross_entropy_backward(g, res.log_probs, t, w, -1, r, res.total_weight);
    const Tensor numeric = numeric_grad(logits, g.reshape(res.loss.shape()), [&](Tensor x) {
      return kernels::cross_entropy(x, t, w, -1, r).loss;
    });
    EXPECT_LT(relative_error(analytic, numeric), 1e-6);
  }
}

TEST(KernelNnLoss, NllLossOnLogSoftmaxEqualsCrossEntropy) {
  const Tensor logits = random_normal({4, 6}, 9), t = targets({5, 0, 2, 2}, {4});
  const Tensor lp = kernels::log_softmax(logits, 1);
  for (Reduction r : kAllReductions) {
    const CrossEntropyResult nll = kernels::nll_loss(lp, t, Tensor(), -100, r);
    EXPECT_TRUE(nll.log_probs.shares_storage_with(lp));
    EXPECT_LT(max_abs_diff(nll.loss, kernels::cross_entropy(logits, t, Tensor(), -100, r).loss),
              1e-15);
  }
}

TEST(KernelNnLoss, NllLossBackwardMatchesFiniteDifferences) {
  const Tensor lp = random_normal({4, 3, 2}, 10), w = from_vector<double>({2, 1, 0.25}, {3});
  const Tensor t = targets({0, 2, 1, 9, 2, 2, 0, 1}, {4, 2});
  for (Reduction r : kAllReductions) {
    SCOPED_TRACE(reduction_name(r));
    const CrossEntropyResult res = kernels::nll_loss(lp, t, w, 9, r);
    const Tensor g =
        r == Reduction::None ? random_normal({4, 2}, 11) : full({}, -0.6, DType::Float64);
    const Tensor analytic =
        nll_loss_backward(g, t, w, 9, r, res.total_weight, lp.shape(), DType::Float64);
    const Tensor numeric = numeric_grad(lp, g.reshape(res.loss.shape()), [&](Tensor x) {
      return kernels::nll_loss(x, t, w, 9, r).loss;
    });
    EXPECT_LT(relative_error(analytic, numeric), 1e-6);
  }
}

TEST(KernelNnLoss, CrossEntropyBackwardIsLogSoftmaxBackwardOfNllBackward) {
  const Tensor logits = random_normal({5, 4}, 12, DType::Float32);
  const Tensor t = targets({3, 1, -100, 0, 2}, {5});
  const CrossEntropyResult res = kernels::cross_entropy(logits, t, Tensor(), -100, Reduction::Mean);
  const Tensor g = full({}, 1.0, DType::Float32);
  const Tensor composed =
      log_softmax_backward(nll_loss_backward(g, t, Tensor(), -100, Reduction::Mean,
                                             res.total_weight, {5, 4}, DType::Float32),
                           res.log_probs, 1);
  const Tensor direct = cross_entropy_backward(g, res.log_probs, t, Tensor(), -100, Reduction::Mean,
                                               res.total_weight);
  EXPECT_EQ(direct.dtype(), DType::Float32);
  EXPECT_LT(max_abs_diff(direct, composed), 1e-6);
}

TEST(KernelNnLoss, RejectsATargetOutOfRange) {
  const Tensor logits = zeros({2, 5});
  expect_error<std::invalid_argument>(
      [&] {
        kernels::cross_entropy(logits, targets({1, 7}, {2}), Tensor(), -100, Reduction::Mean);
      },
      "cross_entropy: target 7 is out of range for 5 classes");
  expect_error<std::invalid_argument>(
      [&] {
        kernels::nll_loss(logits, targets({-1, 0}, {2}), Tensor(), -100, Reduction::Sum);
      },
      "nll_loss: target -1 is out of range for 5 classes");
  expect_error<std::invalid_argument>(
      [&] {
        cross_entropy_backward(zeros({}), logits, targets({5, 0}, {2}), Tensor(), -100,
                               Reduction::Sum, Tensor());
      },
      "cross_entropy_backward: target 5 is out of range for 5 classes");
}

TEST(KernelNnLoss, RejectsMismatchedShapes) {
  expect_error<std::invalid_argument>(
      [] {
        kernels::cross_entropy(zeros({3, 5, 2}), targets({0, 0, 0}, {3}), Tensor(), -100,
                               Reduction::Mean);
      },
      "cross_entropy: target shape [3] does not match logits shape [3, 5, 2] (expected [3, 2])");
  expect_error<std::invalid_argument>(
      [] {
        kernels::cross_entropy(zeros({2, 5}), targets({0, 0}, {2}), zeros({4}), -100,
                               Reduction::Mean);
      },
      "cross_entropy: weight has shape [4], expected [5] (one per class)");
  expect_error<std::invalid_argument>(
      [] {
        nll_loss_backward(zeros({3}), targets({0, 0}, {2}), Tensor(), -100, Reduction::None,
                          Tensor(), {2, 5}, DType::Float32);
      },
      "nll_loss_backward: grad shape [3] must match target shape [2] for reduction 'none'");
  expect_error<std::invalid_argument>(
      [] {
        nll_loss_backward(zeros({}), targets({0, 0}, {2}), Tensor(), -100, Reduction::Mean,
                          Tensor(), {2, 5}, DType::Float32);
      },
      "nll_loss_backward: total_weight is undefined");
}

TEST(KernelNnLoss, RejectsBadDtypes) {
  expect_error<std::invalid_argument>(
      [] {
        kernels::cross_entropy(zeros({2, 5}, DType::BFloat16), targets({0, 0}, {2}), Tensor(), -100,
                               Reduction::Mean);
      },
      "cross_entropy: dtype bfloat16 is not supported");
  expect_error<std::invalid_argument>(
      [] {
        kernels::cross_entropy(zeros({2, 5}), zeros({2}), Tensor(), -100, Reduction::Mean);
      },
      "cross_entropy: target must be int64, got float32");
  expect_error<std::invalid_argument>(
      [] {
        kernels::nll_loss(zeros({2, 5}), targets({0, 0}, {2}), zeros({5}, DType::Float64), -100,
                          Reduction::Mean);
      },
      "nll_loss: weight dtype float64 does not match input dtype float32");
}

}  // namespace
}  // namespace tensorpar::kernels
