// permute / transpose against a naive index-mapping loop, over the run-copy and tiled paths.
#include "core/kernels/layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/ops/ops.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;
using tensor_testing::iota;
using tensor_testing::values;
using ::testing::ElementsAre;

// out[i0, i1, ...] = x[j] where j's dim perm[k] is i_k: computed element by element.
std::vector<double> reference_permute(const Tensor& x, const std::vector<std::int64_t>& perm) {
  const Shape& shape = x.shape();
  const std::size_t ndim = shape.size();
  Shape out_shape(ndim);
  for (std::size_t k = 0; k < ndim; ++k) out_shape[k] = shape[std::size_t(perm[k])];
  const std::vector<std::int64_t> strides = contiguous_strides(shape);
  const std::vector<double> v = values(x);
  std::vector<double> out(v.size());
  for (std::int64_t flat = 0; flat < numel(out_shape); ++flat) {
    std::int64_t rest = flat, src = 0;
    for (std::size_t k = ndim; k-- > 0;) {
      src += (rest % out_shape[k]) * strides[std::size_t(perm[k])];
      rest /= out_shape[k];
    }
    out[std::size_t(flat)] = v[std::size_t(src)];
  }
  return out;
}

Shape permuted(const Shape& shape, const std::vector<std::int64_t>& perm) {
  Shape out;
  for (std::int64_t p : perm) out.push_back(shape[std::size_t(p)]);
  return out;
}

void expect_permute_matches(const Tensor& x, const std::vector<std::int64_t>& perm) {
  Tensor y = kernels::permute(x, perm);
  EXPECT_EQ(y.shape(), permuted(x.shape(), perm)) << shape_str(perm);
  EXPECT_EQ(y.dtype(), x.dtype());
  EXPECT_EQ(values(y), reference_permute(x, perm))
      << shape_str(x.shape()) << " by " << shape_str(perm);
}

TEST(KernelLayout, TransposeWorkedExample) {
  Tensor y = kernels::transpose(iota({2, 3}), 0, 1);
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_THAT(values(y), ElementsAre(0, 3, 1, 4, 2, 5));
}

TEST(KernelLayout, PermuteMatchesReferenceForEveryPermutationOf3Dims) {
  std::vector<std::int64_t> perm{0, 1, 2};
  do {
    for (DType dtype : tensor_testing::kAllDTypes) {
      expect_permute_matches(iota({3, 5, 7}, dtype), perm);
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(KernelLayout, PermuteMatchesReferenceForEveryPermutationOf4Dims) {
  std::vector<std::int64_t> perm{0, 1, 2, 3};
  do {
    expect_permute_matches(iota({2, 5, 3, 4}, DType::Float64), perm);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(KernelLayout, HeadSwapCopiesRunsOfHeadDim) {
  // (b, s, h, d) -> (b, h, s, d) as in attention.
  Tensor x = iota({2, 9, 4, 16}, DType::Float32);
  expect_permute_matches(x, {0, 2, 1, 3});
  Tensor back = kernels::permute(kernels::permute(x, {0, 2, 1, 3}), {0, 2, 1, 3});
  EXPECT_TRUE(equal(back, x));
}

TEST(KernelLayout, TransposesLargerThanATile) {
  expect_permute_matches(iota({67, 45}, DType::Float64), {1, 0});
  expect_permute_matches(iota({3, 40, 70}, DType::Float32), {0, 2, 1});
  expect_permute_matches(iota({33, 2, 65}, DType::Int64), {2, 1, 0});
  Tensor x = iota({3, 40, 70}, DType::Float64);
  EXPECT_TRUE(equal(kernels::transpose(kernels::transpose(x, -1, -2), 1, 2), x));
}

TEST(KernelLayout, SizeOneDimsAreIgnoredByTheCopy) {
  expect_permute_matches(iota({1, 4, 1, 3}), {3, 2, 1, 0});
  expect_permute_matches(iota({1, 4, 1, 3}), {2, 0, 3, 1});
  expect_permute_matches(iota({5, 1}), {1, 0});
  expect_permute_matches(iota({1, 1}), {1, 0});
}

TEST(KernelLayout, EmptyAndScalarTensors) {
  Tensor e = kernels::transpose(zeros({0, 3}), 0, 1);
  EXPECT_EQ(e.shape(), (Shape{3, 0}));
  Tensor s = kernels::permute(full({}, 5.0), {});
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item(), 5.0);
}

TEST(KernelLayout, PermuteTakesNegativeDims) {
  expect_permute_matches(iota({2, 3, 4}), {2, 0, 1});
  EXPECT_TRUE(equal(kernels::permute(iota({2, 3, 4}), {-1, 0, -2}),
                    kernels::permute(iota({2, 3, 4}), {2, 0, 1})));
}

TEST(KernelLayout, PermuteReturnsACopy) {
  Tensor x = iota({2, 3});
  Tensor y = kernels::permute(x, {0, 1});
  EXPECT_TRUE(equal(x, y));
  EXPECT_FALSE(y.shares_storage_with(x));
}

TEST(KernelLayout, PermuteRejectsNonPermutations) {
  expect_error<std::invalid_argument>([] { kernels::permute(iota({2, 3}), {0, 0}); },
                                      "permute: dims [0, 0] is not a permutation of 2 dims");
  expect_error<std::invalid_argument>([] { kernels::permute(iota({2, 3}), {0}); },
                                      "permute: dims [0] is not a permutation of 2 dims");
  expect_error<std::invalid_argument>([] { kernels::permute(iota({2, 3}), {0, 2}); },
                                      "permute: dims [0, 2] is not a permutation of 2 dims");
  expect_error<std::invalid_argument>([] { kernels::permute(iota({2, 3}), {-1, 1}); },
                                      "permute: dims [-1, 1] is not a permutation of 2 dims");
  expect_error<std::invalid_argument>([] { kernels::permute(Tensor(), {}); },
                                      "permute: x is undefined");
}

TEST(KernelLayout, TransposeRejectsDimsOutOfRange) {
  expect_error<std::out_of_range>([] { kernels::transpose(iota({2, 3}), 0, 2); },
                                  "transpose: dim 2 is out of range for a tensor of 2 dims");
  expect_error<std::out_of_range>([] { kernels::transpose(iota({2, 3}), -3, 0); },
                                  "transpose: dim -3 is out of range");
}

}  // namespace
}  // namespace tensorpar
