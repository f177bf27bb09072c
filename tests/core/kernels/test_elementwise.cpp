// Element-wise kernels against naive reference loops: broadcasting, arithmetic, unary ops and
// their derivatives (checked by central finite differences).
#include "core/kernels/elementwise.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;
using tensor_testing::expect_error;
using tensor_testing::iota;
using tensor_testing::values;
using ::testing::ElementsAre;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor random(const Shape& shape, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

// Uniform in [lo, hi).
Tensor uniform(const Shape& shape, double lo, double hi, std::uint64_t seed) {
  Generator gen(seed);
  Tensor u = rand(shape, gen, DType::Float64);
  std::vector<double> v = values(u);
  for (double& e : v) e = lo + (hi - lo) * e;
  return from_vector(v, shape);
}

// The row-major index into `from` of output element `flat` of `out`, broadcasting `from`.
std::int64_t source_index(std::int64_t flat, const Shape& out, const Shape& from) {
  std::int64_t index = 0, stride = 1;
  for (std::size_t k = 0; k < from.size(); ++k) {
    const std::size_t d = from.size() - 1 - k;           // dim of `from`, innermost first
    const std::size_t od = out.size() - 1 - k;           // the aligned output dim
    std::int64_t outer = 1;
    for (std::size_t j = od + 1; j < out.size(); ++j) outer *= out[j];
    const std::int64_t i = (flat / outer) % out[od];
    if (from[d] != 1) index += i * stride;
    stride *= from[d];
  }
  return index;
}

double apply(BinaryOp op, double x, double y) {
  switch (op) {
    case BinaryOp::Add:
      return x + y;
    case BinaryOp::Sub:
      return x - y;
    case BinaryOp::Mul:
      return x * y;
    case BinaryOp::Div:
      return x / y;
  }
  return kNaN;
}

// The naive broadcasting binary op, computed in double.
Tensor reference_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& out) {
  const std::vector<double> x = values(a), y = values(b);
  std::vector<double> r(std::size_t(numel(out)));
  for (std::int64_t i = 0; i < numel(out); ++i) {
    r[std::size_t(i)] = apply(op, x[std::size_t(source_index(i, out, a.shape()))],
                              y[std::size_t(source_index(i, out, b.shape()))]);
  }
  return from_vector(r, out);
}

// ---- broadcasting ----

TEST(KernelElementwise, BroadcastShapesAlignTrailingDims) {
  EXPECT_EQ(kernels::broadcast_shapes({4, 1, 3}, {5, 1}, "mul"), (Shape{4, 5, 3}));
  EXPECT_EQ(kernels::broadcast_shapes({2, 3}, {3}, "add"), (Shape{2, 3}));
  EXPECT_EQ(kernels::broadcast_shapes({}, {2, 1}, "add"), (Shape{2, 1}));
  EXPECT_EQ(kernels::broadcast_shapes({0, 3}, {1, 3}, "add"), (Shape{0, 3}));
  EXPECT_EQ(kernels::broadcast_shapes({1}, {1, 1, 1}, "add"), (Shape{1, 1, 1}));
}

TEST(KernelElementwise, BroadcastShapesRejectMismatchedExtents) {
  expect_error<std::invalid_argument>(
      [] { kernels::broadcast_shapes({2, 3}, {4}, "add"); },
      "add: shapes [2, 3] and [4] cannot be broadcast");
  expect_error<std::invalid_argument>([] { kernels::broadcast_shapes({0}, {2}, "mul"); },
                                      "mul: shapes [0] and [2] cannot be broadcast");
}

TEST(KernelElementwise, BroadcastToRepeatsAColumn) {
  Tensor t = from_vector<double>({1, 2}, {2, 1});
  Tensor b = kernels::broadcast_to(t, {2, 3});
  EXPECT_EQ(b.shape(), (Shape{2, 3}));
  EXPECT_THAT(values(b), ElementsAre(1, 1, 1, 2, 2, 2));
}

TEST(KernelElementwise, BroadcastToRepeatsARowInEveryDtype) {
  for (DType dtype : tensor_testing::kAllDTypes) {
    Tensor b = kernels::broadcast_to(iota({3}, dtype), {2, 3});
    EXPECT_EQ(b.dtype(), dtype);
    EXPECT_THAT(values(b), ElementsAre(0, 1, 2, 0, 1, 2)) << dtype_name(dtype);
  }
}

TEST(KernelElementwise, BroadcastToMatchesReferenceOnMixedStretches) {
  const Shape from{4, 1, 3}, to{2, 4, 5, 3};
  Tensor t = random(from, DType::Float64, 1);
  Tensor b = kernels::broadcast_to(t, to);
  const std::vector<double> x = values(t), got = values(b);
  ASSERT_EQ(got.size(), std::size_t(numel(to)));
  for (std::int64_t i = 0; i < numel(to); ++i) {
    EXPECT_EQ(got[std::size_t(i)], x[std::size_t(source_index(i, to, from))]) << i;
  }
}

TEST(KernelElementwise, BroadcastToHandlesScalarsAndEmptyShapes) {
  Tensor s = full({}, 7.0, DType::Float32);
  EXPECT_THAT(values(kernels::broadcast_to(s, {2, 2})), ElementsAre(7, 7, 7, 7));
  Tensor e = kernels::broadcast_to(iota({1, 3}), {0, 3});
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
  EXPECT_EQ(e.numel(), 0);
}

TEST(KernelElementwise, BroadcastToRejectsIncompatibleShapes) {
  expect_error<std::invalid_argument>([] { kernels::broadcast_to(iota({2, 3}), {3, 3}); },
                                      "broadcast_to: shape [2, 3] cannot be broadcast to [3, 3]");
  expect_error<std::invalid_argument>([] { kernels::broadcast_to(iota({2, 3}), {3}, "expand"); },
                                      "expand: shape [2, 3] cannot be broadcast to [3]");
}

TEST(KernelElementwise, SumToShapeSumsAddedAndStretchedDims) {
  Tensor g = kernels::sum_to_shape(ones({4, 2, 3}), {2, 1});
  EXPECT_EQ(g.shape(), (Shape{2, 1}));
  EXPECT_THAT(values(g), ElementsAre(12, 12));
}

TEST(KernelElementwise, SumToShapeMatchesReference) {
  const Shape big{3, 4, 5}, small{4, 1};
  Tensor t = random(big, DType::Float64, 2);
  Tensor got = kernels::sum_to_shape(t, small);
  std::vector<double> want(4, 0.0);
  const std::vector<double> x = values(t);
  for (std::int64_t i = 0; i < numel(big); ++i) want[std::size_t((i / 5) % 4)] += x[std::size_t(i)];
  EXPECT_TRUE(allclose(got, from_vector(want, small), 1e-12, 1e-12)) << got;
}

TEST(KernelElementwise, SumToShapeOfTheSameShapeIsACopy) {
  Tensor t = iota({2, 3});
  Tensor g = kernels::sum_to_shape(t, {2, 3});
  EXPECT_TRUE(equal(g, t));
  EXPECT_FALSE(g.shares_storage_with(t));
}

TEST(KernelElementwise, SumToShapeRejectsShapesThatDoNotBroadcast) {
  expect_error<std::invalid_argument>([] { kernels::sum_to_shape(iota({2, 3}), {4}); },
                                      "sum_to_shape: shape [4] cannot be broadcast to [2, 3]");
}

// ---- binary ----

struct ShapePair {
  Shape a, b;
};

TEST(KernelElementwise, BinaryMatchesReferenceForEveryBroadcastPattern) {
  const std::vector<ShapePair> cases = {
      {{3, 5, 7}, {3, 5, 7}},  // same shape
      {{6, 7}, {7}},           // bias row
      {{7}, {6, 7}},           // row on the left
      {{6, 7}, {6, 1}},        // column (x - max(x, -1, keepdim))
      {{2, 3}, {3}},
      {{4, 1, 3}, {5, 1}},
      {{3, 1, 5}, {1, 4, 1}},
      {{2, 3}, {1}},  // scalar-shaped
      {{1}, {2, 3}},
      {{2, 3}, {1, 1, 1}},
      {{}, {2, 3}},
      {{1, 1}, {1}},
      {{0, 3}, {3}},
      {{2, 0}, {2, 1}},
  };
  const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};
  std::uint64_t seed = 10;
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const ShapePair& c : cases) {
      Tensor a = random(c.a, dtype, ++seed), b = random(c.b, dtype, ++seed);
      const Shape out = kernels::broadcast_shapes(c.a, c.b, "test");
      for (BinaryOp op : ops) {
        Tensor got = kernels::binary(op, a, b, "test");
        ASSERT_EQ(got.shape(), out);
        ASSERT_EQ(got.dtype(), dtype);
        const double tol = dtype == DType::Float64 ? 1e-15 : 1e-6;
        EXPECT_TRUE(allclose(got, reference_binary(op, a, b, out), tol, tol))
            << kernels::binary_name(op) << " " << shape_str(c.a) << " " << shape_str(c.b)
            << " " << dtype_name(dtype);
      }
    }
  }
}

TEST(KernelElementwise, BinaryAddsABiasRowToEveryRow) {
  Tensor y = kernels::binary(BinaryOp::Add, iota({2, 3}, DType::Float64),
                             from_vector<double>({10, 20, 30}, {3}), "add");
  EXPECT_THAT(values(y), ElementsAre(10, 21, 32, 13, 24, 35));
}

TEST(KernelElementwise, BinaryInt64WrapsAround) {
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  Tensor a = from_vector<std::int64_t>({big, 3, -4}, {3});
  Tensor one = from_vector<std::int64_t>({1}, {1});
  EXPECT_EQ(to_vector<std::int64_t>(kernels::binary(BinaryOp::Add, a, one, "add")),
            (std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), 4, -3}));
  EXPECT_EQ(to_vector<std::int64_t>(kernels::binary(BinaryOp::Mul, a, a, "mul")),
            (std::vector<std::int64_t>{1, 9, 16}));
  EXPECT_EQ(to_vector<std::int64_t>(kernels::binary(BinaryOp::Sub, one, a, "sub")),
            (std::vector<std::int64_t>{-big + 1, -2, 5}));
}

TEST(KernelElementwise, BinaryRejectsMixedDtypesAndUnsupportedDtypes) {
  expect_error<std::invalid_argument>(
      [] {
        kernels::binary(BinaryOp::Add, iota({2}, DType::Float32), iota({2}, DType::Float64),
                        "add");
      },
      "add: dtypes differ: a is float32, b is float64");
  expect_error<std::invalid_argument>(
      [] {
        kernels::binary(BinaryOp::Mul, iota({2}, DType::BFloat16), iota({2}, DType::BFloat16),
                        "mul");
      },
      "mul: dtype bfloat16 is not supported");
  expect_error<std::invalid_argument>(
      [] {
        kernels::binary(BinaryOp::Div, iota({2}, DType::Int64), iota({2}, DType::Int64), "div");
      },
      "div: dtype int64 is not supported");
  expect_error<std::invalid_argument>(
      [] { kernels::binary(BinaryOp::Add, iota({2, 3}), iota({2}), "add"); },
      "add: shapes [2, 3] and [2] cannot be broadcast");
  expect_error<std::invalid_argument>(
      [] { kernels::binary(BinaryOp::Add, Tensor(), iota({2}), "add"); }, "add: a is undefined");
}

TEST(KernelElementwise, ScalarOnTheRightAndOnTheLeft) {
  Tensor a = from_vector<double>({1, 2, 4}, {3});
  EXPECT_THAT(values(kernels::binary_scalar(BinaryOp::Sub, a, 1)), ElementsAre(0, 1, 3));
  EXPECT_THAT(values(kernels::scalar_binary(BinaryOp::Sub, 1, a)), ElementsAre(0, -1, -3));
  EXPECT_THAT(values(kernels::binary_scalar(BinaryOp::Div, a, 4)), ElementsAre(0.25, 0.5, 1));
  EXPECT_THAT(values(kernels::scalar_binary(BinaryOp::Div, 1, a)), ElementsAre(1, 0.5, 0.25));
  EXPECT_THAT(values(kernels::binary_scalar(BinaryOp::Mul, a, -2)), ElementsAre(-2, -4, -8));
  EXPECT_THAT(values(kernels::scalar_binary(BinaryOp::Add, 0.5, a)), ElementsAre(1.5, 2.5, 4.5));
}

TEST(KernelElementwise, ScalarOpsMatchReferenceInFloat32) {
  Tensor a = random({3, 5, 7}, DType::Float32, 30);
  const std::vector<double> x = values(a);
  const std::vector<double> got = values(kernels::scalar_binary(BinaryOp::Div, 3.0, a));
  ASSERT_EQ(got.size(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(got[i], 3.0 / x[i], 1e-5 * std::abs(3.0 / x[i]));
}

TEST(KernelElementwise, ScalarOpsOnInt64NeedAnIntegralScalar) {
  Tensor a = from_vector<std::int64_t>({1, 2}, {2});
  EXPECT_THAT(values(kernels::scalar_binary(BinaryOp::Sub, 10, a)), ElementsAre(9, 8));
  expect_error<std::invalid_argument>([&] { kernels::binary_scalar(BinaryOp::Add, a, 0.5); },
                                      "add: scalar 0.5 is not an integer");
  expect_error<std::invalid_argument>([&] { kernels::binary_scalar(BinaryOp::Div, a, 2); },
                                      "div: dtype int64 is not supported");
}

// ---- pow ----

TEST(KernelElementwise, PowScalarMatchesStdPow) {
  Tensor a = uniform({4, 5}, 0.1, 3.0, 40);
  const std::vector<double> x = values(a);
  for (double e : {2.0, 0.5, 3.0, -1.5, 0.0}) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      const std::vector<double> got = values(kernels::pow_scalar(a.to(dtype), e));
      const std::vector<double> xin = values(a.to(dtype));
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double want = std::pow(xin[i], e);
        EXPECT_NEAR(got[i], want, (dtype == DType::Float64 ? 1e-14 : 1e-6) * std::abs(want))
            << "exponent " << e;
      }
    }
  }
}

TEST(KernelElementwise, PowSquaresNegativeValues) {
  EXPECT_THAT(values(kernels::pow_scalar(from_vector<double>({-3, 2}, {2}), 2)), ElementsAre(9, 4));
}

TEST(KernelElementwise, PowBackwardMatchesFiniteDifferences) {
  Tensor a = uniform({3, 4}, 0.5, 2.0, 41);
  Tensor g = random({3, 4}, DType::Float64, 42);
  const std::vector<double> x = values(a), gv = values(g);
  for (double e : {2.0, 1.0, 0.5, 3.0, -1.5}) {
    const std::vector<double> got = values(kernels::pow_scalar_backward(g, a, e));
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double h = 1e-6;
      const double fd = (std::pow(x[i] + h, e) - std::pow(x[i] - h, e)) / (2 * h);
      EXPECT_NEAR(got[i], gv[i] * fd, 1e-6 * std::max(1.0, std::abs(gv[i] * fd)))
          << "exponent " << e;
    }
  }
}

TEST(KernelElementwise, PowBackwardOfExponentZeroIsZeroEvenAtZero) {
  Tensor a = from_vector<double>({0, 2}, {2});
  EXPECT_THAT(values(kernels::pow_scalar_backward(ones({2}, DType::Float64), a, 0)),
              ElementsAre(0, 0));
}

TEST(KernelElementwise, PowRejectsBadArguments) {
  expect_error<std::invalid_argument>([] { kernels::pow_scalar(iota({2}, DType::Int64), 2); },
                                      "pow: dtype int64 is not supported");
  expect_error<std::invalid_argument>(
      [] { kernels::pow_scalar_backward(iota({2}), iota({3}), 2); },
      "pow_backward: shapes differ: grad is [2], a is [3]");
  expect_error<std::invalid_argument>(
      [] { kernels::pow_scalar_backward(iota({2}), iota({2}, DType::Float64), 2); },
      "pow_backward: dtypes differ: grad is float32, a is float64");
}

// ---- unary ----

double reference_unary(UnaryOp op, double x) {
  const double s = 1 / (1 + std::exp(-x));
  switch (op) {
    case UnaryOp::Neg:
      return -x;
    case UnaryOp::Relu:
      return x > 0 ? x : 0;
    case UnaryOp::GeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::GeluExact:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case UnaryOp::Silu:
      return x * s;
    case UnaryOp::Exp:
      return std::exp(x);
    case UnaryOp::Log:
      return std::log(x);
    case UnaryOp::Sqrt:
      return std::sqrt(x);
    case UnaryOp::Rsqrt:
      return 1 / std::sqrt(x);
    case UnaryOp::Tanh:
      return std::tanh(x);
    case UnaryOp::Sigmoid:
      return s;
  }
  return kNaN;
}

constexpr UnaryOp kUnaryOps[] = {UnaryOp::Neg,  UnaryOp::Relu, UnaryOp::GeluTanh, UnaryOp::GeluExact,
                                 UnaryOp::Silu, UnaryOp::Exp,  UnaryOp::Log,      UnaryOp::Sqrt,
                                 UnaryOp::Rsqrt, UnaryOp::Tanh, UnaryOp::Sigmoid};

bool positive_domain(UnaryOp op) {
  return op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt;
}

// Inputs inside the op's domain, away from relu's kink at 0.
Tensor unary_input(UnaryOp op, const Shape& shape, std::uint64_t seed) {
  if (positive_domain(op)) return uniform(shape, 0.2, 3.0, seed);
  Tensor u = uniform(shape, -3.0, 3.0, seed);
  std::vector<double> v = values(u);
  for (double& e : v) {
    if (std::abs(e) < 0.05) e += 0.1;
  }
  return from_vector(v, shape);
}

TEST(KernelElementwise, UnaryNamesFollowTorch) {
  EXPECT_STREQ(kernels::unary_name(UnaryOp::Relu), "relu");
  EXPECT_STREQ(kernels::unary_name(UnaryOp::GeluTanh), "gelu_tanh");
  EXPECT_STREQ(kernels::unary_name(UnaryOp::GeluExact), "gelu_exact");
  EXPECT_STREQ(kernels::unary_name(UnaryOp::Rsqrt), "rsqrt");
  EXPECT_STREQ(kernels::unary_name(UnaryOp::Sigmoid), "sigmoid");
}

TEST(KernelElementwise, UnaryMatchesReferenceInFloat64AndFloat32) {
  std::uint64_t seed = 50;
  for (UnaryOp op : kUnaryOps) {
    Tensor x = unary_input(op, {3, 5, 7}, ++seed);
    for (DType dtype : {DType::Float64, DType::Float32}) {
      Tensor xin = x.to(dtype);
      Tensor y = kernels::unary(op, xin);
      ASSERT_EQ(y.shape(), (Shape{3, 5, 7}));
      ASSERT_EQ(y.dtype(), dtype);
      const std::vector<double> got = values(y), xs = values(xin);
      const double tol = dtype == DType::Float64 ? 1e-13 : 2e-6;
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const double want = reference_unary(op, xs[i]);
        EXPECT_NEAR(got[i], want, tol * std::max(1.0, std::abs(want)))
            << kernels::unary_name(op) << " at " << xs[i] << " " << dtype_name(dtype);
      }
    }
  }
}

TEST(KernelElementwise, UnaryKeepsEmptyAndScalarShapes) {
  EXPECT_EQ(kernels::unary(UnaryOp::Exp, zeros({0, 4})).shape(), (Shape{0, 4}));
  Tensor s = kernels::unary(UnaryOp::Exp, full({}, 0.0, DType::Float64));
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item(), 1.0);
}

TEST(KernelElementwise, ReluKeepsNaNAndZeroesNegatives) {
  Tensor y = kernels::unary(UnaryOp::Relu, from_vector<double>({-1, 0, 2, kNaN}, {4}));
  const std::vector<double> v = values(y);
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 0);
  EXPECT_EQ(v[2], 2);
  EXPECT_TRUE(std::isnan(v[3]));
}

TEST(KernelElementwise, UnaryBackwardMatchesFiniteDifferences) {
  std::uint64_t seed = 70;
  for (UnaryOp op : kUnaryOps) {
    Tensor x = unary_input(op, {4, 6}, ++seed);
    Tensor g = random({4, 6}, DType::Float64, ++seed);
    Tensor y = kernels::unary(op, x);
    const std::vector<double> got = values(kernels::unary_backward(op, g, x, y));
    const std::vector<double> xs = values(x), gs = values(g);
    const double h = 1e-6;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double fd =
          (reference_unary(op, xs[i] + h) - reference_unary(op, xs[i] - h)) / (2 * h);
      const double want = gs[i] * fd;
      EXPECT_LE(std::abs(got[i] - want), 1e-6 * std::max(1.0, std::abs(want)))
          << kernels::unary_name(op) << " at " << xs[i] << ": " << got[i] << " vs " << want;
    }
  }
}

TEST(KernelElementwise, UnaryBackwardInFloat32MatchesFloat64) {
  std::uint64_t seed = 90;
  for (UnaryOp op : kUnaryOps) {
    Tensor x = unary_input(op, {3, 5}, ++seed);
    Tensor g = random({3, 5}, DType::Float64, ++seed);
    Tensor want = kernels::unary_backward(op, g, x, kernels::unary(op, x));
    Tensor x32 = x.to(DType::Float32);
    Tensor got = kernels::unary_backward(op, g.to(DType::Float32), x32, kernels::unary(op, x32));
    EXPECT_EQ(got.dtype(), DType::Float32);
    EXPECT_TRUE(allclose(got, want, 1e-4, 1e-5)) << kernels::unary_name(op) << got << want;
  }
}

TEST(KernelElementwise, UnaryBackwardReadsOnlyWhatItNeeds) {
  Tensor x = from_vector<double>({-1, 2}, {2});
  Tensor g = from_vector<double>({5, 7}, {2});
  EXPECT_THAT(values(kernels::unary_backward(UnaryOp::Relu, g, Tensor(),
                                             kernels::unary(UnaryOp::Relu, x))),
              ElementsAre(0, 7));
  EXPECT_THAT(values(kernels::unary_backward(UnaryOp::Neg, g, Tensor(), Tensor())),
              ElementsAre(-5, -7));
  EXPECT_THAT(values(kernels::unary_backward(UnaryOp::Log, g, x, Tensor())),
              ElementsAre(-5, 3.5));
}

TEST(KernelElementwise, UnaryRejectsBadArguments) {
  expect_error<std::invalid_argument>(
      [] { kernels::unary(UnaryOp::Relu, iota({2}, DType::Int64)); },
      "relu: dtype int64 is not supported");
  expect_error<std::invalid_argument>(
      [] { kernels::unary(UnaryOp::GeluTanh, iota({2}, DType::BFloat16)); },
      "gelu_tanh: dtype bfloat16 is not supported");
  expect_error<std::invalid_argument>(
      [] { kernels::unary_backward(UnaryOp::Relu, iota({2}), Tensor(), iota({3})); },
      "relu_backward: shapes differ: grad is [2], y is [3]");
  expect_error<std::invalid_argument>(
      [] { kernels::unary_backward(UnaryOp::Silu, iota({2}), Tensor(), iota({2})); },
      "silu_backward: x is undefined");
  expect_error<std::invalid_argument>(
      [] {
        kernels::unary_backward(UnaryOp::Tanh, iota({2}), Tensor(), iota({2}, DType::Float64));
      },
      "tanh_backward: dtypes differ: grad is float32, y is float64");
}

// ---- axpy ----

TEST(KernelElementwise, AxpyAccumulatesInPlace) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor a = random({3, 5, 7}, dtype, 100), b = random({3, 5, 7}, dtype, 101);
    const std::vector<double> x = values(a), y = values(b);
    const void* storage = a.data_ptr();
    kernels::axpy_(a, -0.25, b);
    EXPECT_EQ(a.data_ptr(), storage);
    const std::vector<double> got = values(a);
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(got[i], x[i] - 0.25 * y[i], 1e-6) << dtype_name(dtype);
    }
  }
}

TEST(KernelElementwise, AxpyWithItselfDoubles) {
  Tensor a = from_vector<double>({1, -2}, {2});
  kernels::axpy_(a, 1.0, a);
  EXPECT_THAT(values(a), ElementsAre(2, -4));
}

TEST(KernelElementwise, AxpyRejectsMismatches) {
  Tensor a = iota({2, 3});
  expect_error<std::invalid_argument>([&] { kernels::axpy_(a, 1, iota({3, 2})); },
                                      "axpy_: shape mismatch [2, 3] vs [3, 2]");
  expect_error<std::invalid_argument>(
      [&] { kernels::axpy_(a, 1, iota({2, 3}, DType::Float64)); },
      "axpy_: dtypes differ: a is float32, b is float64");
  Tensor i = iota({2}, DType::Int64);
  expect_error<std::invalid_argument>([&] { kernels::axpy_(i, 1, i); },
                                      "axpy_: dtype int64 is not supported");
}

}  // namespace
}  // namespace tensorpar
