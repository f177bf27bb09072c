// Reduction kernels against naive reference loops: sum and mean over every dim subset, max with
// its indices (ties and NaN), and the scatter of max_dim_backward.
#include "core/kernels/reduce.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor random(const Shape& shape, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

// The multi-index of row-major element `flat` of `shape`.
std::vector<std::int64_t> unravel(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    index[k] = flat % shape[k];
    flat /= shape[k];
  }
  return index;
}

// The row-major position of `index` in `shape`.
std::int64_t ravel(const std::vector<std::int64_t>& index, const Shape& shape) {
  std::int64_t flat = 0;
  for (std::size_t k = 0; k < shape.size(); ++k) flat = flat * shape[k] + index[k];
  return flat;
}

// The naive sum over the dims in `mask`, in double, as a tensor of the keepdim shape.
Tensor reference_sum(const Tensor& x, const std::vector<bool>& mask) {
  const Shape& shape = x.shape();
  Shape kept = shape;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (mask[k]) kept[k] = 1;
  }
  std::vector<double> out(std::size_t(numel(kept)), 0.0);
  const std::vector<double> v = values(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    std::vector<std::int64_t> index = unravel(i, shape);
    std::int64_t o = 0;
    for (std::size_t k = 0; k < shape.size(); ++k) o = o * kept[k] + (mask[k] ? 0 : index[k]);
    out[std::size_t(o)] += v[std::size_t(i)];
  }
  return from_vector(out, kept);
}

Shape drop_reduced(const Shape& shape, const std::vector<bool>& mask) {
  Shape out;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (!mask[k]) out.push_back(shape[k]);
  }
  return out;
}

// ---- sum ----

TEST(KernelReduce, SumWorkedExample) {
  Tensor x = iota({2, 3}, DType::Float64);
  EXPECT_EQ(kernels::sum(x, {}, false).item(), 15);
  EXPECT_EQ(kernels::sum(x, {}, false).shape(), Shape{});
  EXPECT_THAT(values(kernels::sum(x, {0}, false)), ElementsAre(3, 5, 7));
  Tensor rows = kernels::sum(x, {-1}, true);
  EXPECT_EQ(rows.shape(), (Shape{2, 1}));
  EXPECT_THAT(values(rows), ElementsAre(3, 12));
  EXPECT_EQ(kernels::sum(x, {}, true).shape(), (Shape{1, 1}));
}

TEST(KernelReduce, SumMatchesReferenceForEveryDimSubset) {
  const std::vector<Shape> shapes = {{3, 5, 7}, {4, 1, 6}, {1, 3, 1, 2}, {2, 3, 4, 5}};
  std::uint64_t seed = 1;
  for (const Shape& shape : shapes) {
    const std::size_t ndim = shape.size();
    for (DType dtype : {DType::Float64, DType::Float32}) {
      Tensor x = random(shape, dtype, ++seed);
      for (unsigned bits = 1; bits < (1u << ndim); ++bits) {
        std::vector<std::int64_t> dims;
        std::vector<bool> mask(ndim);
        for (std::size_t k = 0; k < ndim; ++k) {
          mask[k] = (bits >> k) & 1u;
          if (mask[k]) dims.push_back(std::int64_t(k));
        }
        Tensor want = reference_sum(x, mask);
        const double tol = dtype == DType::Float64 ? 1e-12 : 1e-5;
        Tensor kept = kernels::sum(x, dims, true);
        EXPECT_EQ(kept.dtype(), dtype);
        EXPECT_TRUE(allclose(kept, want, tol, tol)) << shape_str(shape) << " dims " << shape_str(dims);
        Tensor dropped = kernels::sum(x, dims, false);
        EXPECT_EQ(dropped.shape(), drop_reduced(shape, mask));
        EXPECT_TRUE(allclose(dropped.reshape(want.shape()), want, tol, tol));
      }
    }
  }
}

TEST(KernelReduce, SumTakesNegativeDimsInAnyOrder) {
  Tensor x = random({3, 5, 7}, DType::Float64, 20);
  Tensor want = reference_sum(x, {true, false, true});
  EXPECT_TRUE(allclose(kernels::sum(x, {-1, 0}, true), want, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(kernels::sum(x, {2, -3}, true), want, 1e-12, 1e-12));
}

TEST(KernelReduce, SumOfBiasGradientOverManyRows) {
  // Over all but the last dim, with more rows than one partial-sum chunk.
  Tensor x = random({3, 700, 5}, DType::Float64, 21);
  Tensor got = kernels::sum(x, {0, 1}, false);
  EXPECT_EQ(got.shape(), (Shape{5}));
  EXPECT_TRUE(allclose(got.reshape({1, 1, 5}), reference_sum(x, {true, true, false}), 1e-11, 1e-11));
  Tensor x32 = x.to(DType::Float32);
  EXPECT_TRUE(allclose(kernels::sum(x32, {0, 1}, false), got, 1e-4, 1e-4));
}

TEST(KernelReduce, SumOfEmptyTensors) {
  Tensor x = zeros({0, 3}, DType::Float64);
  Tensor cols = kernels::sum(x, {0}, false);
  EXPECT_EQ(cols.shape(), (Shape{3}));
  EXPECT_THAT(values(cols), ElementsAre(0, 0, 0));
  EXPECT_EQ(kernels::sum(x, {1}, false).shape(), (Shape{0}));
  EXPECT_EQ(kernels::sum(x, {}, false).item(), 0);
}

TEST(KernelReduce, SumOfAScalarTensor) {
  Tensor s = full({}, 4.0, DType::Float32);
  EXPECT_EQ(kernels::sum(s, {}, false).item(), 4);
  EXPECT_EQ(kernels::sum(s, {0}, true).shape(), Shape{});
}

TEST(KernelReduce, SumOfInt64Wraps) {
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  Tensor x = from_vector<std::int64_t>({big, 1, 2, 3}, {2, 2});
  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(to_vector<std::int64_t>(kernels::sum(x, {0}, false)),
            (std::vector<std::int64_t>{min + 1, 4}));  // big + 2 wraps
  EXPECT_EQ(to_vector<std::int64_t>(kernels::sum(x, {1}, false)),
            (std::vector<std::int64_t>{min, 5}));  // big + 1 wraps
}

TEST(KernelReduce, SumRejectsBadDims) {
  expect_error<std::invalid_argument>([] { kernels::sum(iota({2, 3}), {1, -1}, false); },
                                      "sum: dim -1 appears twice in dims [1, -1]");
  expect_error<std::out_of_range>([] { kernels::sum(iota({2, 3}), {2}, false); },
                                  "sum: dim 2 is out of range for a tensor of 2 dims");
  expect_error<std::invalid_argument>(
      [] { kernels::sum(iota({2}, DType::BFloat16), {}, false); },
      "sum: dtype bfloat16 is not supported");
  expect_error<std::invalid_argument>([] { kernels::sum(Tensor(), {}, false); },
                                      "sum: x is undefined");
}

// ---- mean ----

TEST(KernelReduce, MeanDividesByTheReducedCount) {
  Tensor x = iota({2, 3}, DType::Float64);
  EXPECT_EQ(kernels::mean(x, {0, 1}, false).item(), 2.5);
  EXPECT_THAT(values(kernels::mean(x, {1}, false)), ElementsAre(1, 4));
  EXPECT_THAT(values(kernels::mean(x, {-2}, true)), ElementsAre(1.5, 2.5, 3.5));
}

TEST(KernelReduce, MeanMatchesReferenceInFloat32) {
  Tensor x = random({4, 6, 5}, DType::Float32, 30);
  Tensor want = reference_sum(x, {true, false, true});
  std::vector<double> w = values(want);
  for (double& e : w) e /= 20.0;
  EXPECT_TRUE(allclose(kernels::mean(x, {0, 2}, true), from_vector(w, want.shape()), 1e-5, 1e-6));
}

TEST(KernelReduce, MeanOfNothingIsNaN) {
  Tensor m = kernels::mean(zeros({0, 2}, DType::Float64), {0}, false);
  EXPECT_EQ(m.shape(), (Shape{2}));
  for (double v : values(m)) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(std::isnan(kernels::mean(zeros({0}), {}, false).item()));
}

TEST(KernelReduce, MeanRejectsInt64) {
  expect_error<std::invalid_argument>(
      [] { kernels::mean(iota({2}, DType::Int64), {}, false); },
      "mean: dtype int64 is not supported");
  expect_error<std::invalid_argument>([] { kernels::mean(iota({2, 2}), {0, 0}, false); },
                                      "mean: dim 0 appears twice in dims [0, 0]");
}

// ---- max ----

TEST(KernelReduce, MaxDimWorkedExample) {
  kernels::MaxResult r = kernels::max_dim(iota({2, 3}, DType::Float64), 1, false);
  EXPECT_THAT(values(r.values), ElementsAre(2, 5));
  EXPECT_EQ(r.indices.dtype(), DType::Int64);
  EXPECT_THAT(values(r.indices), ElementsAre(2, 2));
}

TEST(KernelReduce, MaxDimMatchesReferenceAlongEveryDim) {
  const Shape shape{3, 5, 7};
  for (DType dtype : {DType::Float64, DType::Float32}) {
    Tensor x = random(shape, dtype, 40);
    const std::vector<double> v = values(x);
    for (std::int64_t dim = 0; dim < 3; ++dim) {
      for (bool keepdim : {false, true}) {
        kernels::MaxResult r = kernels::max_dim(x, dim - (keepdim ? 3 : 0), keepdim);
        Shape want_shape = shape;
        if (keepdim) {
          want_shape[std::size_t(dim)] = 1;
        } else {
          want_shape.erase(want_shape.begin() + dim);
        }
        ASSERT_EQ(r.values.shape(), want_shape);
        ASSERT_EQ(r.indices.shape(), want_shape);
        EXPECT_EQ(r.values.dtype(), dtype);
        Shape keep_shape = shape;
        keep_shape[std::size_t(dim)] = 1;
        std::vector<double> best(std::size_t(numel(want_shape)), -std::numeric_limits<double>::infinity());
        std::vector<double> arg(best.size(), -1);
        for (std::int64_t i = 0; i < x.numel(); ++i) {
          std::vector<std::int64_t> index = unravel(i, shape);
          const std::int64_t k = index[std::size_t(dim)];
          index[std::size_t(dim)] = 0;
          const std::int64_t o = ravel(index, keep_shape);
          if (v[std::size_t(i)] > best[std::size_t(o)]) {
            best[std::size_t(o)] = v[std::size_t(i)];
            arg[std::size_t(o)] = double(k);
          }
        }
        EXPECT_EQ(values(r.values), best) << "dim " << dim;
        EXPECT_EQ(values(r.indices), arg) << "dim " << dim;
      }
    }
  }
}

TEST(KernelReduce, MaxDimTiesPickTheFirstIndex) {
  Tensor x = from_vector<double>({1, 3, 3, 2, 2, 1}, {2, 3});
  EXPECT_THAT(values(kernels::max_dim(x, 1, false).indices), ElementsAre(1, 0));
  Tensor y = from_vector<float>({5, 1, 5, 1, 5, 0}, {3, 2});
  EXPECT_THAT(values(kernels::max_dim(y, 0, false).indices), ElementsAre(0, 0));
}

TEST(KernelReduce, MaxDimPropagatesTheFirstNaN) {
  Tensor x = from_vector<double>({1, kNaN, 7, kNaN, 0, 9}, {2, 3});
  kernels::MaxResult r = kernels::max_dim(x, 1, false);
  EXPECT_TRUE(std::isnan(values(r.values)[0]));
  EXPECT_TRUE(std::isnan(values(r.values)[1]));
  EXPECT_THAT(values(r.indices), ElementsAre(1, 0));
}

TEST(KernelReduce, MaxDimOfInt64AndSizeOneDims) {
  Tensor x = from_vector<std::int64_t>({4, -2, 9, 9}, {2, 1, 2});
  kernels::MaxResult r = kernels::max_dim(x, -1, true);
  EXPECT_EQ(r.values.shape(), (Shape{2, 1, 1}));
  EXPECT_THAT(values(r.values), ElementsAre(4, 9));
  EXPECT_THAT(values(r.indices), ElementsAre(0, 0));
  kernels::MaxResult one = kernels::max_dim(x, 1, false);
  EXPECT_TRUE(equal(one.values, x.reshape({2, 2})));
  EXPECT_THAT(values(one.indices), ElementsAre(0, 0, 0, 0));
}

TEST(KernelReduce, MaxDimRejectsEmptyDimsAndBadArguments) {
  expect_error<std::invalid_argument>([] { kernels::max_dim(zeros({2, 0}), 1, false); },
                                      "max_dim: dim 1 has size 0 (shape [2, 0])");
  expect_error<std::invalid_argument>([] { kernels::max_dim(zeros({0, 2}), 0, false); },
                                      "max_dim: dim 0 has size 0");
  expect_error<std::out_of_range>([] { kernels::max_dim(zeros({2}), 1, false); },
                                  "max_dim: dim 1 is out of range");
  expect_error<std::invalid_argument>(
      [] { kernels::max_dim(zeros({2}, DType::BFloat16), 0, false); },
      "max_dim: dtype bfloat16 is not supported");
}

TEST(KernelReduce, MaxDimBackwardScattersToTheArgmax) {
  Tensor g = kernels::max_dim_backward(from_vector<double>({7, 8}, {2}),
                                       from_vector<std::int64_t>({2, 0}, {2}), {2, 3}, 1, false);
  EXPECT_EQ(g.shape(), (Shape{2, 3}));
  EXPECT_THAT(values(g), ElementsAre(0, 0, 7, 8, 0, 0));
}

TEST(KernelReduce, MaxDimBackwardInvertsMaxDim) {
  Tensor x = random({4, 3, 5}, DType::Float32, 50);
  for (bool keepdim : {false, true}) {
    kernels::MaxResult r = kernels::max_dim(x, 1, keepdim);
    Tensor g = kernels::max_dim_backward(r.values, r.indices, x.shape(), 1, keepdim);
    ASSERT_EQ(g.shape(), x.shape());
    // Each (i, k) column holds exactly the maximum at its argmax and zero elsewhere.
    const std::vector<double> gv = values(g), xv = values(x), idx = values(r.indices);
    for (std::int64_t i = 0; i < 4; ++i) {
      for (std::int64_t j = 0; j < 3; ++j) {
        for (std::int64_t k = 0; k < 5; ++k) {
          const std::size_t at = std::size_t((i * 3 + j) * 5 + k);
          const bool arg = idx[std::size_t(i * 5 + k)] == double(j);
          EXPECT_EQ(gv[at], arg ? xv[at] : 0.0);
        }
      }
    }
  }
}

TEST(KernelReduce, MaxDimBackwardRejectsBadArguments) {
  Tensor g = zeros({2}, DType::Float64);
  Tensor idx = from_vector<std::int64_t>({0, 3}, {2});
  expect_error<std::invalid_argument>(
      [&] { kernels::max_dim_backward(g, idx, {2, 3}, 1, false); },
      "max_dim_backward: index 3 is out of range for dim 1 of size 3");
  expect_error<std::invalid_argument>(
      [&] { kernels::max_dim_backward(g, idx, {2, 3}, 1, true); },
      "max_dim_backward: grad is [2] but the values of max over dim 1 of [2, 3] are [2, 1]");
  expect_error<std::invalid_argument>(
      [&] { kernels::max_dim_backward(g, idx.to(DType::Float64), {2, 3}, 1, false); },
      "max_dim_backward: indices must be int64, got float64");
  expect_error<std::invalid_argument>(
      [&] { kernels::max_dim_backward(g, iota({3}, DType::Int64), {2, 3}, 1, false); },
      "max_dim_backward: indices is [3] but grad is [2]");
}

}  // namespace
}  // namespace tensorpar
