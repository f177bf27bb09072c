// cat, element-wise ops, reductions and comparisons.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;
using tensor_testing::iota;
using tensor_testing::kAllDTypes;
using tensor_testing::values;
using ::testing::ElementsAre;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// ---- cat ----

TEST(TensorOps, CatAlongDimZero) {
  Tensor c = cat({iota({1, 2}), full({2, 2}, 7)});
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  EXPECT_THAT(values(c), ElementsAre(0, 1, 7, 7, 7, 7));
}

TEST(TensorOps, CatAlongAnInnerDim) {
  Tensor c = cat(
      {iota({2, 1}, DType::Int64), full({2, 3}, 9, DType::Int64), iota({2, 2}, DType::Int64)}, -1);
  EXPECT_EQ(c.shape(), (Shape{2, 6}));
  EXPECT_THAT(values(c), ElementsAre(0, 9, 9, 9, 0, 1, 1, 9, 9, 9, 2, 3));
}

TEST(TensorOps, CatInvertsChunk) {
  Tensor t = iota({3, 7, 2}, DType::Float64);
  for (std::int64_t dim = 0; dim < 3; ++dim) {
    EXPECT_TRUE(equal(cat(t.chunk(3, dim), dim), t)) << "dim " << dim;
  }
}

TEST(TensorOps, CatSkipsEmptyPiecesAndCopies) {
  Tensor a = iota({2, 2});
  Tensor c = cat({zeros({2, 0}), a, zeros({2, 0})}, 1);
  EXPECT_TRUE(equal(c, a));
  EXPECT_FALSE(c.shares_storage_with(a));
  EXPECT_EQ(cat({zeros({0, 3}), zeros({0, 3})}).shape(), (Shape{0, 3}));
}

TEST(TensorOps, CatRejectsMismatches) {
  expect_error<std::invalid_argument>([] { cat({}); }, "cat: expects at least one tensor");
  expect_error<std::invalid_argument>(
      [] {
        cat({zeros({2}), zeros({2}, DType::Int64)});
      },
      "cat: tensors[1] has dtype int64 but tensors[0] has dtype float32");
  expect_error<std::invalid_argument>(
      [] {
        cat({zeros({2, 3}), zeros({2, 4}), zeros({3, 3})});
      },
      "cat: tensors[1] has shape [2, 4] but tensors[0] has shape [2, 3] (only dim 0 may differ)");
  expect_error<std::invalid_argument>(
      [] {
        cat({zeros({2, 3}), zeros({6})});
      },
      "cat: tensors[1] has shape [6]");
  expect_error<std::invalid_argument>(
      [] {
        cat({zeros({2}), Tensor()});
      },
      "cat: tensors[1] is undefined");
  expect_error<std::out_of_range>([] { cat({zeros({2})}, 1); },
                                  "cat: dim 1 is out of range for a tensor of 1 dims");
}

// ---- element-wise ----

TEST(TensorOps, BinaryOpsForEveryDtype) {
  for (DType d : kAllDTypes) {
    Tensor a = from_vector<double>({6, -8, 9}, {3}).to(d);
    Tensor b = from_vector<double>({2, 4, -3}, {3}).to(d);
    EXPECT_THAT(values(a + b), ElementsAre(8, -4, 6)) << dtype_name(d);
    EXPECT_THAT(values(a - b), ElementsAre(4, -12, 12)) << dtype_name(d);
    EXPECT_THAT(values(a * b), ElementsAre(12, -32, -27)) << dtype_name(d);
    EXPECT_THAT(values(a / b), ElementsAre(3, -2, -3)) << dtype_name(d);
    EXPECT_EQ((a + b).dtype(), d);
  }
}

TEST(TensorOps, ScalarOpsForEveryDtype) {
  for (DType d : kAllDTypes) {
    Tensor a = from_vector<double>({6, -8}, {2}).to(d);
    EXPECT_THAT(values(a + 2.0), ElementsAre(8, -6)) << dtype_name(d);
    EXPECT_THAT(values(a - 2.0), ElementsAre(4, -10)) << dtype_name(d);
    EXPECT_THAT(values(a * -2.0), ElementsAre(-12, 16)) << dtype_name(d);
    EXPECT_THAT(values(a / 2.0), ElementsAre(3, -4)) << dtype_name(d);
    EXPECT_EQ((a * 2.0).dtype(), d);
  }
}

TEST(TensorOps, BinaryOpsLeaveInputsUntouched) {
  Tensor a = iota({2});
  Tensor b = ones({2});
  Tensor c = a + b;
  EXPECT_FALSE(c.shares_storage_with(a));
  EXPECT_THAT(values(a), ElementsAre(0, 1));
}

TEST(TensorOps, BinaryOpsOnViews) {
  Tensor t = iota({4, 2});
  Tensor sum_of_halves = t.narrow(0, 0, 2) + t.narrow(0, 2, 2);
  EXPECT_THAT(values(sum_of_halves), ElementsAre(4, 6, 8, 10));
}

TEST(TensorOps, OpsOnEmptyAndZeroDimTensors) {
  EXPECT_EQ((zeros({0, 3}) + zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ((full({}, 3) * full({}, 4)).item(), 12.0);
}

TEST(TensorOps, BinaryOpsRejectMismatches) {
  expect_error<std::invalid_argument>(
      [] {
        add(zeros({2, 3}), zeros({3, 2}));
      },
      "add: shapes [2, 3] and [3, 2] cannot be broadcast");
  // Shapes that broadcast are not mismatches: [2] - [2, 1] gives [2, 2].
  EXPECT_EQ(sub(zeros({2}), zeros({2, 1})).shape(), (Shape{2, 2}));
  expect_error<std::invalid_argument>([] { mul(zeros({2}), zeros({2}, DType::BFloat16)); },
                                      "mul: dtype mismatch float32 vs bfloat16");
  expect_error<std::invalid_argument>([] { div(Tensor(), zeros({2})); }, "div: a is undefined");
  expect_error<std::invalid_argument>([] { add(Tensor(), 1.0); }, "add: a is undefined");
}

TEST(TensorOps, Int64DivisionTruncatesTowardZero) {
  Tensor a = from_vector<std::int64_t>({7, -7, 7, -7, 0}, {5});
  Tensor b = from_vector<std::int64_t>({2, 2, -2, -2, 5}, {5});
  EXPECT_THAT(to_vector<std::int64_t>(a / b), ElementsAre(3, -3, -3, 3, 0));
  EXPECT_THAT(to_vector<std::int64_t>(a / -2.0), ElementsAre(-3, 3, -3, 3, 0));
}

TEST(TensorOps, Int64DivisionByZeroThrows) {
  Tensor a = iota({3}, DType::Int64);
  expect_error<std::invalid_argument>(
      [&] {
        a / from_vector<std::int64_t>({1, 0, 1}, {3});
      },
      "div: integer division by zero");
  expect_error<std::invalid_argument>([&] { a / 0.0; }, "div: integer division by zero");
}

TEST(TensorOps, Int64DivisionOverflowThrows) {
  Tensor a = from_vector<std::int64_t>({kInt64Min}, {1});
  expect_error<std::invalid_argument>([&] { a / full({1}, -1, DType::Int64); },
                                      "div: integer division overflow (int64 min / -1)");
  expect_error<std::invalid_argument>([&] { a / -1.0; }, "div: integer division overflow");
}

TEST(TensorOps, Int64AdditionWrapsAround) {
  Tensor a = from_vector<std::int64_t>({kInt64Max}, {1});
  EXPECT_THAT(to_vector<std::int64_t>(a + full({1}, 1, DType::Int64)), ElementsAre(kInt64Min));
  EXPECT_THAT(to_vector<std::int64_t>(a + 1.0), ElementsAre(kInt64Min));
}

TEST(TensorOps, Int64ScalarMustBeAnInteger) {
  expect_error<std::invalid_argument>(
      [] { iota({2}, DType::Int64) + 0.5; },
      "add: scalar 0.5 is not an integer; an int64 tensor keeps its dtype");
  expect_error<std::invalid_argument>([] { iota({2}, DType::Int64) * 1e19; }, "mul: scalar 1e+19");
}

TEST(TensorOps, FloatDivisionFollowsIeee) {
  Tensor r = from_vector<double>({1, -1, 0}, {3}) / zeros({3}, DType::Float64);
  std::vector<double> v = values(r);
  EXPECT_EQ(v[0], kInf);
  EXPECT_EQ(v[1], -kInf);
  EXPECT_TRUE(std::isnan(v[2]));
}

TEST(TensorOps, BFloat16ArithmeticRoundsThroughFloat32) {
  Tensor a = full({2}, 256, DType::BFloat16);
  EXPECT_THAT(values(a + full({2}, 1, DType::BFloat16)), ElementsAre(256, 256));  // 257 -> 256
  EXPECT_THAT(values(a + 3.0), ElementsAre(260, 260));                            // 259 -> 260
  EXPECT_THAT(values(full({1}, 1, DType::BFloat16) / 3.0), ElementsAre(0.333984375));
}

TEST(TensorOps, Float32ArithmeticStaysInFloat32) {
  // 2^24 + 1 is not a float32: the sum rounds to 2^24.
  Tensor big = full({1}, 16777216.0);
  EXPECT_EQ((big + 1.0).item(), 16777216.0);
  EXPECT_EQ((big.to(DType::Float64) + 1.0).item(), 16777217.0);
}

// ---- reductions over all elements ----

TEST(TensorOps, FullReductionsForEveryDtype) {
  for (DType d : kAllDTypes) {
    Tensor t = from_vector<double>({3, -1, 4, 2}, {2, 2}).to(d);
    EXPECT_EQ(sum(t).item(), 8) << dtype_name(d);
    EXPECT_EQ(max(t).item(), 4) << dtype_name(d);
    EXPECT_EQ(min(t).item(), -1) << dtype_name(d);
    EXPECT_EQ(prod(t).item(), -24) << dtype_name(d);
    EXPECT_EQ(sum(t).dim(), 0);
    EXPECT_EQ(sum(t).dtype(), d);
  }
}

TEST(TensorOps, FullReductionsOfLargeTensorsAreExactOnIntegers) {
  Tensor t = arange(100000, DType::Float64);
  EXPECT_EQ(sum(t).item(), 4999950000.0);
  EXPECT_EQ(sum(arange(100000)).item(), 4999950000.0);
  EXPECT_EQ(max(t).item(), 99999);
}

TEST(TensorOps, EmptyFullReductions) {
  for (DType d : kAllDTypes) {
    EXPECT_EQ(sum(zeros({0, 3}, d)).item(), 0) << dtype_name(d);
    EXPECT_EQ(prod(zeros({0}, d)).item(), 1) << dtype_name(d);
  }
  expect_error<std::invalid_argument>(
      [] {
        max(zeros({2, 0}));
      },
      "max: cannot reduce an empty tensor of shape [2, 0]");
  expect_error<std::invalid_argument>([] { min(zeros({0})); }, "min: cannot reduce an empty");
}

TEST(TensorOps, MaxAndMinPropagateNaN) {
  Tensor t = from_vector<float>({1, std::nanf(""), 3}, {3});
  EXPECT_TRUE(std::isnan(max(t).item()));
  EXPECT_TRUE(std::isnan(min(t).item()));
  EXPECT_TRUE(std::isnan(max(t.to(DType::Float64)).item()));
  EXPECT_TRUE(std::isnan(max(t, 0).item()));
}

TEST(TensorOps, ReductionsRejectUndefinedInputs) {
  expect_error<std::invalid_argument>([] { sum(Tensor()); }, "sum: input is undefined");
  expect_error<std::invalid_argument>([] { prod(Tensor(), 0); }, "prod: input is undefined");
}

// ---- reductions along a dim ----

// Reference: reduces dim 1 of t viewed as [outer, n, inner] element by element in float64.
std::vector<double> reference_reduce(const Tensor& t, std::int64_t dim, char op) {
  const Shape& s = t.shape();
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t k = 0; k < dim; ++k) outer *= s[k];
  for (std::int64_t k = dim + 1; k < t.dim(); ++k) inner *= s[k];
  const std::int64_t n = s[dim];
  const std::vector<double> v = values(t);
  std::vector<double> out;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      double acc = v[(o * n) * inner + i];
      for (std::int64_t k = 1; k < n; ++k) {
        const double x = v[(o * n + k) * inner + i];
        acc = op == '+'   ? acc + x
              : op == '*' ? acc * x
              : op == '>' ? std::max(acc, x)
                          : std::min(acc, x);
      }
      out.push_back(acc);
    }
  }
  return out;
}

TEST(TensorOps, ReductionsAlongEachDimMatchAReference) {
  Tensor t = from_vector<double>(
      {3, -1, 4, 1, -5, 9, 2, 6, -5, 3, 5, -8, 9, 7, -9, 3, 2, 3, -8, 4, 6, 2, -6, 4}, {2, 3, 4});
  for (DType d : kAllDTypes) {
    Tensor x = t.to(d);
    // The exact result rounded once to the dtype (bfloat16 cannot hold 1701, say).
    auto expected = [&](std::int64_t dim, char op) {
      std::vector<double> ref = reference_reduce(t, dim, op);
      return values(from_vector<double>(ref, {std::int64_t(ref.size())}).to(d));
    };
    for (std::int64_t dim = 0; dim < 3; ++dim) {
      SCOPED_TRACE(cat(dtype_name(d), " dim ", dim));
      EXPECT_EQ(values(sum(x, dim)), expected(dim, '+'));
      EXPECT_EQ(values(prod(x, dim)), expected(dim, '*'));
      EXPECT_EQ(values(max(x, dim)), expected(dim, '>'));
      EXPECT_EQ(values(min(x, dim)), expected(dim, '<'));
      EXPECT_EQ(sum(x, dim).dtype(), d);
    }
  }
}

TEST(TensorOps, ReductionAlongADimDropsOrKeepsIt) {
  Tensor t = iota({2, 3, 4});
  EXPECT_EQ(sum(t, 1).shape(), (Shape{2, 4}));
  EXPECT_EQ(sum(t, 1, true).shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(max(t, -1).shape(), (Shape{2, 3}));
  EXPECT_EQ(min(t, 0, true).shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(sum(iota({5}), 0).shape(), Shape{});
  EXPECT_EQ(sum(iota({5}), 0).item(), 10);
}

TEST(TensorOps, ReductionAlongAnEmptyDim) {
  EXPECT_THAT(values(sum(zeros({2, 0, 3}), 1)), ElementsAre(0, 0, 0, 0, 0, 0));
  EXPECT_THAT(values(prod(zeros({2, 0}), 1)), ElementsAre(1, 1));
  expect_error<std::invalid_argument>(
      [] {
        max(zeros({2, 0}), 1);
      },
      "max: cannot reduce dim 1 of size 0 (shape [2, 0])");
  EXPECT_EQ(max(zeros({0, 3}), 1).shape(), (Shape{0}));  // nothing to reduce: empty result
}

TEST(TensorOps, ReductionAlongADimRejectsBadDims) {
  expect_error<std::out_of_range>(
      [] {
        sum(zeros({2, 3}), 2);
      },
      "sum: dim 2 is out of range for a tensor of 2 dims");
  expect_error<std::out_of_range>([] { max(full({}, 1), 0); },
                                  "max: dim 0 is out of range for a tensor of 0 dims");
}

TEST(TensorOps, Int64SumWrapsAround) {
  Tensor t = from_vector<std::int64_t>({kInt64Max, 1}, {2});
  EXPECT_THAT(to_vector<std::int64_t>(sum(t)), ElementsAre(kInt64Min));
  EXPECT_THAT(to_vector<std::int64_t>(sum(t.reshape({2, 1}), 0)), ElementsAre(kInt64Min));
}

// ---- comparisons ----

TEST(TensorOps, EqualNeedsShapeDtypeAndValues) {
  Tensor a = iota({2, 3});
  EXPECT_TRUE(equal(a, a.clone()));
  EXPECT_FALSE(equal(a, a.reshape({3, 2})));
  EXPECT_FALSE(equal(a, a.to(DType::Float64)));
  Tensor b = a.clone();
  b.narrow(0, 1, 1).fill_(-1);
  EXPECT_FALSE(equal(a, b));
  EXPECT_TRUE(equal(zeros({0}), zeros({0})));
}

TEST(TensorOps, EqualForEveryDtype) {
  for (DType d : kAllDTypes) {
    EXPECT_TRUE(equal(iota({4}, d), iota({4}, d))) << dtype_name(d);
    EXPECT_FALSE(equal(iota({4}, d), iota({4}, d) + 1.0)) << dtype_name(d);
  }
}

TEST(TensorOps, EqualTreatsSignedZerosAsEqualAndNaNAsUnequal) {
  EXPECT_TRUE(equal(full({1}, -0.0), full({1}, 0.0)));
  EXPECT_TRUE(equal(full({1}, -0.0, DType::BFloat16), full({1}, 0.0, DType::BFloat16)));
  EXPECT_FALSE(equal(full({1}, std::nan("")), full({1}, std::nan(""))));
}

TEST(TensorOps, ComparisonsRejectUndefinedInputs) {
  expect_error<std::invalid_argument>([] { equal(Tensor(), zeros({1})); }, "equal: a is undefined");
  expect_error<std::invalid_argument>([] { allclose(zeros({1}), Tensor()); },
                                      "allclose: b is undefined");
}

TEST(TensorOps, AllcloseUsesAbsoluteAndRelativeTolerance) {
  Tensor b = from_vector<double>({100, 0}, {2});
  EXPECT_TRUE(allclose(from_vector<double>({100.0009, 0}, {2}), b));  // 1e-5 * 100
  EXPECT_FALSE(allclose(from_vector<double>({100.002, 0}, {2}), b));
  EXPECT_TRUE(allclose(from_vector<double>({100, 1e-9}, {2}), b));  // atol 1e-8
  EXPECT_FALSE(allclose(from_vector<double>({100, 1e-7}, {2}), b));
  EXPECT_TRUE(allclose(from_vector<double>({101, 0.5}, {2}), b, 0.02, 0.5));
}

TEST(TensorOps, AllcloseAcrossDtypesAndShapes) {
  EXPECT_TRUE(allclose(iota({3}), iota({3}, DType::Int64)));
  EXPECT_TRUE(allclose(iota({3}, DType::BFloat16), iota({3}, DType::Float64)));
  EXPECT_FALSE(allclose(iota({3}), iota({3, 1})));
}

TEST(TensorOps, AllcloseOnNonFiniteValues) {
  EXPECT_TRUE(allclose(full({1}, kInf), full({1}, kInf)));
  EXPECT_FALSE(allclose(full({1}, kInf), full({1}, -kInf)));
  EXPECT_FALSE(allclose(full({1}, 1e300, DType::Float64), full({1}, kInf), 1.0, 1.0));
  EXPECT_FALSE(allclose(full({1}, std::nan("")), full({1}, std::nan(""))));
}

TEST(TensorOps, AllcloseRejectsNegativeTolerances) {
  expect_error<std::invalid_argument>([] { allclose(zeros({1}), zeros({1}), -1.0); },
                                      "allclose: rtol -1 and atol 1e-08 must be non-negative");
}

TEST(TensorOps, MaxAbsDiffIsTheLargestElementDifference) {
  EXPECT_EQ(max_abs_diff(from_vector<double>({1, 5, -2}, {3}), from_vector<double>({1, 3, 2}, {3})),
            4.0);
  EXPECT_EQ(max_abs_diff(iota({2}, DType::Int64), iota({2}, DType::Float32)), 0.0);
  EXPECT_EQ(max_abs_diff(zeros({0, 2}), zeros({0, 2})), 0.0);
  EXPECT_TRUE(std::isnan(max_abs_diff(full({2}, std::nan("")), zeros({2}))));
}

TEST(TensorOps, MaxAbsDiffRejectsShapeMismatch) {
  expect_error<std::invalid_argument>([] { max_abs_diff(zeros({2}), zeros({3})); },
                                      "max_abs_diff: shape mismatch [2] vs [3]");
}

}  // namespace
}  // namespace tensorpar
