// layer_norm / rms_norm and their backwards against naive loops and finite differences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/kernels/norm.h"
#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::kernels {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using testing::expect_error;

Tensor random_normal(const Shape& shape, std::uint64_t seed, DType dtype = DType::Float64) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

struct Reference {
  Tensor y, mean, rstd;
};

// Normalises each row of the last dim in double; rms when `rms`. weight/bias may be undefined.
Reference reference(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                    bool rms) {
  const std::int64_t D = x.size(-1), rows = x.numel() / D;
  const std::vector<double> v = to_vector<double>(x);
  const std::vector<double> w =
      weight.defined() ? to_vector<double>(weight) : std::vector<double>(std::size_t(D), 1.0);
  const std::vector<double> b =
      bias.defined() ? to_vector<double>(bias) : std::vector<double>(std::size_t(D), 0.0);
  std::vector<double> y(v.size()), mean(v.size() / std::size_t(D)), rstd(mean.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double m = 0, sq = 0;
    for (std::int64_t j = 0; j < D; ++j) m += v[r * D + j] / D;
    if (rms) m = 0;
    for (std::int64_t j = 0; j < D; ++j) sq += (v[r * D + j] - m) * (v[r * D + j] - m) / D;
    mean[r] = m;
    rstd[r] = 1 / std::sqrt(sq + eps);
    for (std::int64_t j = 0; j < D; ++j) y[r * D + j] = (v[r * D + j] - m) * rstd[r] * w[j] + b[j];
  }
  Shape stats(x.shape().begin(), x.shape().end() - 1);
  return {from_vector(y, x.shape()), from_vector(mean, stats), from_vector(rstd, stats)};
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

TEST(KernelNnNorm, LayerNormOfAWorkedExample) {
  const NormResult r =
      kernels::layer_norm(from_vector<double>({1, 3}, {1, 2}), Tensor(), Tensor(), 0.0);
  EXPECT_THAT(to_vector<double>(r.y), ElementsAre(-1.0, 1.0));
  EXPECT_THAT(to_vector<double>(r.mean), ElementsAre(2.0));
  EXPECT_THAT(to_vector<double>(r.rstd), ElementsAre(1.0));
  EXPECT_EQ(r.mean.shape(), (Shape{1}));
}

TEST(KernelNnNorm, LayerNormMatchesNaiveLoopWithAffine) {
  const Tensor x = random_normal({3, 5, 7}, 1), w = random_normal({7}, 2),
               b = random_normal({7}, 3);
  const NormResult r = kernels::layer_norm(x, w, b, 1e-5);
  const Reference ref = reference(x, w, b, 1e-5, false);
  EXPECT_LT(max_abs_diff(r.y, ref.y), 1e-14);
  EXPECT_LT(max_abs_diff(r.mean, ref.mean), 1e-15);
  EXPECT_LT(max_abs_diff(r.rstd, ref.rstd), 1e-13);
  EXPECT_EQ(r.rstd.shape(), (Shape{3, 5}));
}

TEST(KernelNnNorm, LayerNormFloat32MatchesTheReference) {
  const Tensor x = random_normal({4, 9}, 4, DType::Float32),
               w = random_normal({9}, 5, DType::Float32);
  const NormResult r = kernels::layer_norm(x, w, Tensor(), 1e-5);
  EXPECT_EQ(r.y.dtype(), DType::Float32);
  EXPECT_EQ(r.mean.dtype(), DType::Float32);
  EXPECT_LT(max_abs_diff(r.y, reference(x, w, Tensor(), 1e-5, false).y), 1e-5);
}

TEST(KernelNnNorm, LayerNormOfASizeOneLastDimIsTheBias) {
  const Tensor x = random_normal({4, 1}, 6), b = full({1}, 0.5, DType::Float64);
  const NormResult r = kernels::layer_norm(x, full({1}, 2.0, DType::Float64), b, 1e-5);
  EXPECT_TRUE(equal(r.y, full({4, 1}, 0.5, DType::Float64)));
  EXPECT_TRUE(equal(r.mean, x.reshape({4})));
}

TEST(KernelNnNorm, RmsNormOfAWorkedExample) {
  const NormResult r = kernels::rms_norm(from_vector<double>({1, 3}, {1, 2}), Tensor(), 0.0);
  EXPECT_THAT(to_vector<double>(r.y), ElementsAre(DoubleNear(1 / std::sqrt(5.0), 1e-15),
                                                  DoubleNear(3 / std::sqrt(5.0), 1e-15)));
  EXPECT_FALSE(r.mean.defined());
}

TEST(KernelNnNorm, RmsNormMatchesNaiveLoop) {
  const Tensor x = random_normal({3, 5, 7}, 7), w = random_normal({7}, 8);
  const NormResult r = kernels::rms_norm(x, w, 1e-6);
  const Reference ref = reference(x, w, Tensor(), 1e-6, true);
  EXPECT_LT(max_abs_diff(r.y, ref.y), 1e-14);
  EXPECT_LT(max_abs_diff(r.rstd, ref.rstd), 1e-14);
  const Tensor x32 = x.to(DType::Float32);
  EXPECT_LT(max_abs_diff(kernels::rms_norm(x32, w.to(DType::Float32), 1e-6).y, ref.y), 1e-5);
}

TEST(KernelNnNorm, A1DInputHas0DStatistics) {
  const NormResult r =
      kernels::layer_norm(from_vector<double>({1, 2, 3}, {3}), Tensor(), Tensor(), 0.0);
  EXPECT_EQ(r.mean.shape(), Shape{});
  EXPECT_DOUBLE_EQ(r.mean.item(), 2.0);
}

TEST(KernelNnNorm, LayerNormBackwardMatchesFiniteDifferences) {
  const Tensor x = random_normal({3, 5, 7}, 9), w = random_normal({7}, 10),
               b = random_normal({7}, 11), g = random_normal({3, 5, 7}, 12);
  const NormResult r = kernels::layer_norm(x, w, b, 1e-5);
  const NormGrads grads = layer_norm_backward(g, x, w, r.mean, r.rstd, true, true);
  EXPECT_LT(relative_error(
                grads.x,
                numeric_grad(x, g, [&](Tensor t) { return kernels::layer_norm(t, w, b, 1e-5).y; })),
            1e-6);
  EXPECT_LT(relative_error(
                grads.weight,
                numeric_grad(w, g, [&](Tensor t) { return kernels::layer_norm(x, t, b, 1e-5).y; })),
            1e-6);
  EXPECT_LT(relative_error(
                grads.bias,
                numeric_grad(b, g, [&](Tensor t) { return kernels::layer_norm(x, w, t, 1e-5).y; })),
            1e-6);
}

TEST(KernelNnNorm, LayerNormBackwardWithoutAffine) {
  const Tensor x = random_normal({6, 4}, 13), g = random_normal({6, 4}, 14);
  const NormResult r = kernels::layer_norm(x, Tensor(), Tensor(), 1e-5);
  const NormGrads grads = layer_norm_backward(g, x, Tensor(), r.mean, r.rstd, false, false);
  EXPECT_FALSE(grads.weight.defined());
  EXPECT_FALSE(grads.bias.defined());
  EXPECT_LT(relative_error(grads.x,
                           numeric_grad(x, g,
                                        [&](Tensor t) {
                                          return kernels::layer_norm(t, Tensor(), Tensor(), 1e-5).y;
                                        })),
            1e-6);
}

TEST(KernelNnNorm, RmsNormBackwardMatchesFiniteDifferences) {
  const Tensor x = random_normal({3, 5, 7}, 15), w = random_normal({7}, 16),
               g = random_normal({3, 5, 7}, 17);
  const NormResult r = kernels::rms_norm(x, w, 1e-6);
  const NormGrads grads = rms_norm_backward(g, x, w, r.rstd, true);
  EXPECT_FALSE(grads.bias.defined());
  EXPECT_LT(
      relative_error(grads.x,
                     numeric_grad(x, g, [&](Tensor t) { return kernels::rms_norm(t, w, 1e-6).y; })),
      1e-6);
  EXPECT_LT(
      relative_error(grads.weight,
                     numeric_grad(w, g, [&](Tensor t) { return kernels::rms_norm(x, t, 1e-6).y; })),
      1e-6);
}

TEST(KernelNnNorm, BackwardsInFloat32MatchFloat64) {
  const Tensor x = random_normal({5, 8}, 18), w = random_normal({8}, 19),
               g = random_normal({5, 8}, 20);
  const Tensor x32 = x.to(DType::Float32), w32 = w.to(DType::Float32), g32 = g.to(DType::Float32);
  const NormResult r = kernels::layer_norm(x, w, Tensor(), 1e-5),
                   r32 = kernels::layer_norm(x32, w32, Tensor(), 1e-5);
  const NormGrads a = layer_norm_backward(g, x, w, r.mean, r.rstd, true, true);
  const NormGrads a32 = layer_norm_backward(g32, x32, w32, r32.mean, r32.rstd, true, true);
  EXPECT_LT(max_abs_diff(a32.x, a.x), 1e-4);
  EXPECT_LT(max_abs_diff(a32.weight, a.weight), 1e-4);
  const NormResult s = kernels::rms_norm(x, w, 1e-6), s32 = kernels::rms_norm(x32, w32, 1e-6);
  EXPECT_LT(max_abs_diff(rms_norm_backward(g32, x32, w32, s32.rstd, false).x,
                         rms_norm_backward(g, x, w, s.rstd, false).x),
            1e-4);
}

TEST(KernelNnNorm, RejectsAWeightOfTheWrongLength) {
  expect_error<std::invalid_argument>(
      [] {
        kernels::layer_norm(zeros({2, 5}), zeros({4}), Tensor(), 1e-5);
      },
      "layer_norm: weight has shape [4], expected [5]");
  expect_error<std::invalid_argument>(
      [] {
        kernels::rms_norm(zeros({2, 5}), zeros({5}, DType::Float64), 1e-5);
      },
      "rms_norm: weight dtype float64 does not match input dtype float32");
}

TEST(KernelNnNorm, RejectsOtherDtypesAnd0DInputs) {
  expect_error<std::invalid_argument>(
      [] {
        kernels::layer_norm(zeros({2, 5}, DType::BFloat16), Tensor(), Tensor(), 1e-5);
      },
      "layer_norm: dtype bfloat16 is not supported");
  expect_error<std::invalid_argument>([] { kernels::rms_norm(zeros({}), Tensor(), 1e-5); },
                                      "rms_norm: input must have at least 1 dim");
}

TEST(KernelNnNorm, BackwardRejectsMismatchedStatistics) {
  expect_error<std::invalid_argument>(
      [] {
        layer_norm_backward(zeros({2, 5}), zeros({2, 5}), Tensor(), zeros({3}), zeros({2}), false,
                            false);
      },
      "layer_norm_backward: mean has shape [3] and dtype float32, expected [2] and float32");
  expect_error<std::invalid_argument>(
      [] {
        rms_norm_backward(zeros({2, 4}), zeros({2, 5}), Tensor(), zeros({2}), false);
      },
      "rms_norm_backward: grad shape [2, 4] does not match input shape [2, 5]");
  expect_error<std::invalid_argument>(
      [] {
        rms_norm_backward(zeros({2, 5}), zeros({2, 5}), Tensor(), zeros({2}), true);
      },
      "rms_norm_backward: need_weight is set but weight is undefined");
}

}  // namespace
}  // namespace tensorpar::kernels
