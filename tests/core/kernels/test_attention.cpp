// The causal mask of scaled dot-product attention.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/kernels/attention.h"
#include "core/kernels/softmax.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::kernels {
namespace {

using ::testing::ElementsAre;
using testing::expect_error;

constexpr double kInf = INFINITY;

TEST(KernelNnAttention, MasksKeysAfterTheQueryTopLeftAligned) {
  Tensor scores = arange(6, DType::Float64).reshape({2, 3});
  causal_mask_(scores);
  EXPECT_THAT(to_vector<double>(scores), ElementsAre(0, -kInf, -kInf, 3, 4, -kInf));
}

TEST(KernelNnAttention, MoreQueriesThanKeysLeaveLaterRowsWhole) {
  Tensor scores = ones({4, 2}, DType::Float32);
  causal_mask_(scores);
  EXPECT_THAT(to_vector<double>(scores), ElementsAre(1, -kInf, 1, 1, 1, 1, 1, 1));
}

TEST(KernelNnAttention, EveryMatrixOfABatchIsMasked) {
  const Shape shape{2, 3, 4, 5};
  Tensor scores = arange(numel(shape), DType::Float64).reshape(shape);
  causal_mask_(scores);
  const std::vector<double> v = to_vector<double>(scores);
  for (std::int64_t b = 0; b < 6; ++b) {
    for (std::int64_t i = 0; i < 4; ++i) {
      for (std::int64_t j = 0; j < 5; ++j) {
        const std::int64_t flat = (b * 4 + i) * 5 + j;
        EXPECT_EQ(v[flat], j > i ? -kInf : double(flat)) << b << " " << i << " " << j;
      }
    }
  }
}

TEST(KernelNnAttention, SoftmaxOfMaskedScoresIsZeroAboveTheDiagonal) {
  Tensor scores = zeros({3, 3}, DType::Float64);
  causal_mask_(scores);
  EXPECT_THAT(to_vector<double>(kernels::softmax(scores, -1)),
              ElementsAre(1, 0, 0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3));
}

TEST(KernelNnAttention, EmptyScoresAreLeftAlone) {
  Tensor scores = zeros({2, 0, 3});
  causal_mask_(scores);
  Tensor no_keys = zeros({2, 3, 0});
  causal_mask_(no_keys);
  EXPECT_EQ(no_keys.numel(), 0);
}

TEST(KernelNnAttention, RejectsBadScores) {
  expect_error<std::invalid_argument>(
      [] {
        Tensor s = zeros({4});
        causal_mask_(s);
      },
      "causal_mask_: scores must have at least 2 dims (..., Sq, Sk), got shape [4]");
  expect_error<std::invalid_argument>(
      [] {
        Tensor s = zeros({2, 2}, DType::Int64);
        causal_mask_(s);
      },
      "causal_mask_: dtype int64 is not supported");
}

}  // namespace
}  // namespace tensorpar::kernels
