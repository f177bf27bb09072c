// matmul / linear / linear_backward against naive triple loops and finite differences.
#include "core/kernels/matmul.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;
using tensor_testing::iota;
using tensor_testing::values;
using ::testing::ElementsAre;

Tensor random(const Shape& shape, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

// One (rows x cols) matrix of a batch, element (i, j), honouring a transposed layout.
struct MatrixView {
  const std::vector<double>& v;
  std::int64_t offset, stored_cols;
  bool transposed;
  double at(std::int64_t i, std::int64_t j) const {
    return transposed ? v[std::size_t(offset + j * stored_cols + i)]
                      : v[std::size_t(offset + i * stored_cols + j)];
  }
};

// The naive batched product op(a) @ op(b), in double; a 2-D operand is shared by every batch.
Tensor reference_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const std::int64_t ar = as.end()[-2], ac = as.end()[-1], br = bs.end()[-2], bc = bs.end()[-1];
  const std::int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  Shape batch(as.begin(), as.end() - 2);
  if (batch.empty()) batch.assign(bs.begin(), bs.end() - 2);
  const std::int64_t batches = numel(batch);
  const std::vector<double> av = values(a), bv = values(b);
  std::vector<double> out;
  for (std::int64_t i = 0; i < batches; ++i) {
    const MatrixView A{av, a.dim() == 2 ? 0 : i * ar * ac, ac, ta};
    const MatrixView B{bv, b.dim() == 2 ? 0 : i * br * bc, bc, tb};
    for (std::int64_t r = 0; r < m; ++r) {
      for (std::int64_t c = 0; c < n; ++c) {
        double s = 0;
        for (std::int64_t j = 0; j < k; ++j) s += A.at(r, j) * B.at(j, c);
        out.push_back(s);
      }
    }
  }
  batch.push_back(m);
  batch.push_back(n);
  return from_vector(out, batch);
}

// Rounding grows with the contraction length k: float32 sums of k products of standard normals
// differ from the float64 reference by up to about k * 2^-24 per term, depending on the order
// and on whether the build fuses multiply-adds.
double tolerance(DType dtype, std::int64_t k) {
  return dtype == DType::Float64 ? 1e-12 : std::max(1e-5, 4e-7 * static_cast<double>(k));
}

void expect_matmul_matches(const Shape& as, const Shape& bs, bool ta, bool tb, DType dtype,
                           std::uint64_t seed) {
  Tensor a = random(as, dtype, seed), b = random(bs, dtype, seed + 1000);
  Tensor got = kernels::matmul(a, b, ta, tb);
  Tensor want = reference_matmul(a, b, ta, tb);
  ASSERT_EQ(got.shape(), want.shape()) << shape_str(as) << " @ " << shape_str(bs);
  EXPECT_EQ(got.dtype(), dtype);
  const std::int64_t k = ta ? as[as.size() - 2] : as.back();
  EXPECT_TRUE(allclose(got, want, tolerance(dtype, k), tolerance(dtype, k)))
      << shape_str(as) << " @ " << shape_str(bs) << " ta " << ta << " tb " << tb << " "
      << dtype_name(dtype) << " max diff " << max_abs_diff(got, want.to(dtype));
}

// ---- matmul ----

TEST(KernelMatmul, TwoByTwoWorkedExample) {
  Tensor a = from_vector<double>({1, 2, 3, 4}, {2, 2});
  Tensor b = from_vector<double>({5, 6, 7, 8}, {2, 2});
  EXPECT_THAT(values(kernels::matmul(a, b)), ElementsAre(19, 22, 43, 50));
  EXPECT_THAT(values(kernels::matmul(a, b, true, false)), ElementsAre(26, 30, 38, 44));
  EXPECT_THAT(values(kernels::matmul(a, b, false, true)), ElementsAre(17, 23, 39, 53));
  EXPECT_THAT(values(kernels::matmul(a, b, true, true)), ElementsAre(23, 31, 34, 46));
}

TEST(KernelMatmul, AllFourTransposeCombinationsMatchReference) {
  std::uint64_t seed = 1;
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const Shape as = ta ? Shape{7, 3} : Shape{3, 7};
        const Shape bs = tb ? Shape{5, 7} : Shape{7, 5};
        expect_matmul_matches(as, bs, ta, tb, dtype, ++seed);
      }
    }
  }
}

TEST(KernelMatmul, BatchedThreeAndFourDims) {
  std::uint64_t seed = 20;
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        expect_matmul_matches(ta ? Shape{4, 6, 3} : Shape{4, 3, 6},
                              tb ? Shape{4, 5, 6} : Shape{4, 6, 5}, ta, tb, dtype, ++seed);
        expect_matmul_matches(ta ? Shape{2, 3, 9, 4} : Shape{2, 3, 4, 9},
                              tb ? Shape{2, 3, 2, 9} : Shape{2, 3, 9, 2}, ta, tb, dtype, ++seed);
      }
    }
  }
}

TEST(KernelMatmul, SharedTwoDimOperand) {
  std::uint64_t seed = 40;
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        // b shared by every batch of a (one GEMM over the flattened rows when a is not
        // transposed) and a shared by every batch of b.
        expect_matmul_matches(ta ? Shape{2, 3, 8, 5} : Shape{2, 3, 5, 8},
                              tb ? Shape{6, 8} : Shape{8, 6}, ta, tb, dtype, ++seed);
        expect_matmul_matches(ta ? Shape{8, 5} : Shape{5, 8},
                              tb ? Shape{3, 6, 8} : Shape{3, 8, 6}, ta, tb, dtype, ++seed);
      }
    }
  }
}

TEST(KernelMatmul, LargerThanEigenBlocks) {
  expect_matmul_matches({130, 270}, {270, 90}, false, false, DType::Float32, 60);
  expect_matmul_matches({2, 270, 130}, {2, 90, 270}, true, true, DType::Float64, 61);
}

TEST(KernelMatmul, EmptyDims) {
  Tensor z = kernels::matmul(ones({3, 0}), ones({0, 4}));
  EXPECT_EQ(z.shape(), (Shape{3, 4}));
  EXPECT_THAT(values(z), ::testing::Each(0.0));
  EXPECT_EQ(kernels::matmul(ones({0, 5}), ones({5, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(kernels::matmul(ones({0, 2, 5}), ones({5, 4})).shape(), (Shape{0, 2, 4}));
  EXPECT_EQ(kernels::matmul(ones({2, 5}), ones({0, 5, 4})).shape(), (Shape{0, 2, 4}));
}

TEST(KernelMatmul, RejectsBadOperands) {
  expect_error<std::invalid_argument>([] { kernels::matmul(ones({3}), ones({3, 2})); },
                                      "matmul: a must have at least 2 dims, got [3]");
  expect_error<std::invalid_argument>([] { kernels::matmul(ones({2, 3}), ones({3})); },
                                      "matmul: b must have at least 2 dims, got [3]");
  expect_error<std::invalid_argument>([] { kernels::matmul(ones({2, 3}), ones({4, 5})); },
                                      "matmul: inner dims differ: a is [2, 3], b is [4, 5]");
  expect_error<std::invalid_argument>(
      [] { kernels::matmul(ones({2, 3}), ones({3, 5}), true, false); },
      "matmul: inner dims differ: a is [2, 3], b is [3, 5] (trans_a)");
  expect_error<std::invalid_argument>(
      [] { kernels::matmul(ones({2, 3, 4}), ones({5, 4, 6})); },
      "matmul: batch dims differ: a is [2, 3, 4], b is [5, 4, 6]");
  expect_error<std::invalid_argument>(
      [] { kernels::matmul(ones({2, 3}), ones({3, 2}, DType::Float64)); },
      "matmul: dtypes differ: a is float32, b is float64");
  expect_error<std::invalid_argument>(
      [] { kernels::matmul(ones({2, 2}, DType::Int64), ones({2, 2}, DType::Int64)); },
      "matmul: dtype int64 is not supported");
  expect_error<std::invalid_argument>([] { kernels::matmul(Tensor(), ones({2, 2})); },
                                      "matmul: a is undefined");
}

// ---- linear ----

// x @ w^T + bias by the naive loop.
Tensor reference_linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const std::int64_t in = w.shape()[1], out = w.shape()[0], rows = x.numel() / in;
  const std::vector<double> xv = values(x), wv = values(w);
  const std::vector<double> bv = bias.defined() ? values(bias) : std::vector<double>(out, 0.0);
  std::vector<double> y;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t o = 0; o < out; ++o) {
      double s = bv[std::size_t(o)];
      for (std::int64_t i = 0; i < in; ++i) s += xv[std::size_t(r * in + i)] * wv[std::size_t(o * in + i)];
      y.push_back(s);
    }
  }
  Shape shape = x.shape();
  shape.back() = out;
  return from_vector(y, shape);
}

TEST(KernelMatmul, LinearMatchesReference) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    Tensor x = random({2, 3, 4}, dtype, 70), w = random({5, 4}, dtype, 71);
    Tensor b = random({5}, dtype, 72);
    Tensor y = kernels::linear(x, w, b);
    EXPECT_EQ(y.shape(), (Shape{2, 3, 5}));
    EXPECT_TRUE(allclose(y, reference_linear(x, w, b), tolerance(dtype, 4), tolerance(dtype, 4)));
    Tensor y0 = kernels::linear(x, w, Tensor());
    EXPECT_TRUE(allclose(y0, reference_linear(x, w, Tensor()), tolerance(dtype, 4), tolerance(dtype, 4)));
  }
}

TEST(KernelMatmul, LinearOfAVectorAndOfNoRows) {
  Tensor w = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = kernels::linear(from_vector<double>({1, 0, -1}, {3}), w, from_vector<double>({10, 20}, {2}));
  EXPECT_EQ(y.shape(), (Shape{2}));
  EXPECT_THAT(values(y), ElementsAre(8, 18));
  EXPECT_EQ(kernels::linear(zeros({0, 3}, DType::Float64), w, Tensor()).shape(), (Shape{0, 2}));
  Tensor no_in = kernels::linear(ones({2, 0}), ones({3, 0}), full({3}, 1.5));
  EXPECT_THAT(values(no_in), ::testing::Each(1.5));
}

TEST(KernelMatmul, LinearRejectsBadArguments) {
  expect_error<std::invalid_argument>([] { kernels::linear(ones({2, 5}), ones({3, 4}), Tensor()); },
                                      "linear: in features differ: x is [2, 5], w is [3, 4]");
  expect_error<std::invalid_argument>([] { kernels::linear(ones({2, 4}), ones({4}), Tensor()); },
                                      "linear: w must be 2-D (out, in), got [4]");
  expect_error<std::invalid_argument>(
      [] { kernels::linear(ones({2, 4}), ones({3, 4}), ones({4})); },
      "linear: bias is [4] but w is [3, 4]; bias must be [3]");
  expect_error<std::invalid_argument>(
      [] { kernels::linear(ones({2, 4}), ones({3, 4}), ones({3}, DType::Float64)); },
      "linear: dtypes differ: x is float32, bias is float64");
  expect_error<std::invalid_argument>(
      [] { kernels::linear(ones({2, 4}, DType::BFloat16), ones({3, 4}, DType::BFloat16), Tensor()); },
      "linear: dtype bfloat16 is not supported");
}

// L(x, w, b) = sum(g * linear(x, w, b)); its gradients are what linear_backward returns.
double linear_loss(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& b) {
  const std::vector<double> y = values(kernels::linear(x, w, b)), gv = values(g);
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += gv[i] * y[i];
  return s;
}

// Central difference of L with respect to every element of `param` (one of x, w, b).
std::vector<double> finite_difference(const Tensor& g, Tensor x, Tensor w, Tensor b, Tensor& param) {
  std::vector<double> fd;
  double* p = param.data<double>();
  const double h = 1e-6;
  for (std::int64_t i = 0; i < param.numel(); ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    const double up = linear_loss(g, x, w, b);
    p[i] = keep - h;
    const double down = linear_loss(g, x, w, b);
    p[i] = keep;
    fd.push_back((up - down) / (2 * h));
  }
  return fd;
}

void expect_close_relative(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_LE(std::abs(got[i] - want[i]), 1e-6 * std::max(1.0, std::abs(want[i])))
        << i << ": " << got[i] << " vs " << want[i];
  }
}

TEST(KernelMatmul, LinearBackwardMatchesFiniteDifferences) {
  Tensor x = random({2, 3, 4}, DType::Float64, 80), w = random({5, 4}, DType::Float64, 81);
  Tensor b = random({5}, DType::Float64, 82), g = random({2, 3, 5}, DType::Float64, 83);
  kernels::LinearGrads grads = kernels::linear_backward(g, x, w, true, true, true);
  ASSERT_EQ(grads.x.shape(), x.shape());
  ASSERT_EQ(grads.w.shape(), w.shape());
  ASSERT_EQ(grads.bias.shape(), b.shape());
  expect_close_relative(values(grads.x), finite_difference(g, x, w, b, x));
  expect_close_relative(values(grads.w), finite_difference(g, x, w, b, w));
  expect_close_relative(values(grads.bias), finite_difference(g, x, w, b, b));
}

TEST(KernelMatmul, LinearBackwardInFloat32MatchesFloat64) {
  Tensor x = random({7, 6}, DType::Float64, 90), w = random({3, 6}, DType::Float64, 91);
  Tensor g = random({7, 3}, DType::Float64, 92);
  kernels::LinearGrads want = kernels::linear_backward(g, x, w, true, true, true);
  kernels::LinearGrads got = kernels::linear_backward(
      g.to(DType::Float32), x.to(DType::Float32), w.to(DType::Float32), true, true, true);
  EXPECT_EQ(got.x.dtype(), DType::Float32);
  EXPECT_TRUE(allclose(got.x, want.x, 1e-5, 1e-5));
  EXPECT_TRUE(allclose(got.w, want.w, 1e-5, 1e-5));
  EXPECT_TRUE(allclose(got.bias, want.bias, 1e-5, 1e-5));
}

TEST(KernelMatmul, LinearBackwardComputesOnlyWhatIsAsked) {
  Tensor x = ones({2, 3}), w = ones({4, 3}), g = ones({2, 4});
  kernels::LinearGrads only_w = kernels::linear_backward(g, x, w, false, true, false);
  EXPECT_FALSE(only_w.x.defined());
  EXPECT_FALSE(only_w.bias.defined());
  EXPECT_THAT(values(only_w.w), ::testing::Each(2.0));
  kernels::LinearGrads only_bias = kernels::linear_backward(g, x, w, false, false, true);
  EXPECT_FALSE(only_bias.w.defined());
  EXPECT_THAT(values(only_bias.bias), ElementsAre(2, 2, 2, 2));
  kernels::LinearGrads vector = kernels::linear_backward(ones({4}), ones({3}), w, true, true, true);
  EXPECT_THAT(values(vector.x), ElementsAre(4, 4, 4));
  EXPECT_THAT(values(vector.bias), ElementsAre(1, 1, 1, 1));
}

TEST(KernelMatmul, LinearBackwardRejectsAMismatchedGrad) {
  expect_error<std::invalid_argument>(
      [] { kernels::linear_backward(ones({2, 5}), ones({2, 4}), ones({3, 4}), true, true, true); },
      "linear_backward: grad is [2, 5] but linear(x [2, 4], w [3, 4]) is [2, 3]");
  expect_error<std::invalid_argument>(
      [] {
        kernels::linear_backward(ones({2, 3}, DType::Float64), ones({2, 4}), ones({3, 4}), true,
                                 false, false);
      },
      "linear_backward: dtypes differ: grad is float64, x is float32");
}

}  // namespace
}  // namespace tensorpar
