// Factories: zeros, ones, full, arange, from_vector and to_vector.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "core/ops/ops.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;
using tensor_testing::iota;
using tensor_testing::kAllDTypes;
using tensor_testing::values;
using ::testing::ElementsAre;

TEST(TensorFactory, ZerosOnesFullForEveryDtype) {
  for (DType d : kAllDTypes) {
    EXPECT_THAT(values(zeros({2}, d)), ElementsAre(0, 0));
    EXPECT_THAT(values(ones({2}, d)), ElementsAre(1, 1));
    EXPECT_THAT(values(full({2}, -4, d)), ElementsAre(-4, -4));
    EXPECT_EQ(zeros({2}, d).dtype(), d);
  }
  EXPECT_EQ(zeros({2, 3}).dtype(), DType::Float32);
}

TEST(TensorFactory, ArangeCountsFromZero) {
  EXPECT_EQ(arange(4).dtype(), DType::Int64);
  EXPECT_THAT(to_vector<std::int64_t>(arange(4)), ElementsAre(0, 1, 2, 3));
  for (DType d : kAllDTypes) EXPECT_THAT(values(arange(3, d)), ElementsAre(0, 1, 2));
  EXPECT_EQ(arange(0).shape(), (Shape{0}));
  expect_error<std::invalid_argument>([] { arange(-1); }, "arange: end -1 is negative");
}

TEST(TensorFactory, ArangeWithStartEndStep) {
  EXPECT_THAT(values(arange(1, 2, 0.25, DType::Float64)), ElementsAre(1, 1.25, 1.5, 1.75));
  EXPECT_THAT(values(arange(3, 0, -1, DType::Int64)), ElementsAre(3, 2, 1));
  EXPECT_THAT(values(arange(0, 1, 0.4, DType::Float64)), ElementsAre(0, 0.4, 0.8));
  EXPECT_EQ(arange(2, 2, 1, DType::Float32).numel(), 0);
}

TEST(TensorFactory, ArangeRejectsBadSteps) {
  expect_error<std::invalid_argument>([] { arange(0, 5, 0, DType::Float32); },
                                      "arange: step 0 must be finite and non-zero");
  expect_error<std::invalid_argument>(
      [] { arange(0, 5, -1, DType::Float32); },
      "arange: step -1 has the wrong sign to go from start 0 to end 5");
  expect_error<std::invalid_argument>(
      [] { arange(0, std::numeric_limits<double>::infinity(), 1, DType::Float32); },
      "must be finite");
}

TEST(TensorFactory, FromVectorAndToVectorRoundTripEveryType) {
  EXPECT_THAT(to_vector<float>(from_vector<float>({1.5f, -2}, {2})), ElementsAre(1.5f, -2.0f));
  EXPECT_THAT(to_vector<double>(from_vector<double>({0.1, 0.2, 0.3}, {3, 1})),
              ElementsAre(0.1, 0.2, 0.3));
  const std::int64_t big = (1LL << 62) + 1;  // not representable as a double
  EXPECT_THAT(to_vector<std::int64_t>(from_vector<std::int64_t>({big, -1}, {2})),
              ElementsAre(big, -1));
  const auto bf = to_vector<BFloat16>(from_vector<BFloat16>({BFloat16(0.5f)}, {1, 1}));
  ASSERT_EQ(bf.size(), 1u);
  EXPECT_EQ(bf[0], BFloat16(0.5f));
}

TEST(TensorFactory, FromVectorSetsDtypeAndShape) {
  Tensor t = from_vector<std::int64_t>({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_EQ(from_vector<float>({}, {0, 4}).shape(), (Shape{0, 4}));
  EXPECT_EQ(from_vector<float>({3}, {}).item(), 3.0);
}

TEST(TensorFactory, FromVectorRejectsAWrongCount) {
  expect_error<std::invalid_argument>(
      [] {
        from_vector<float>({1, 2, 3}, {2, 2});
      },
      "from_vector: 3 values do not fill shape [2, 2] (4 elements)");
  expect_error<std::invalid_argument>([] { from_vector<float>({}, {-1}); }, "negative extent -1");
}

TEST(TensorFactory, ToVectorConverts) {
  EXPECT_THAT(to_vector<std::int64_t>(from_vector<float>({1.9f, -1.9f}, {2})), ElementsAre(1, -1));
  EXPECT_THAT(to_vector<float>(iota({2}, DType::Int64)), ElementsAre(0.0f, 1.0f));
  expect_error<std::invalid_argument>([] { to_vector<float>(Tensor()); },
                                      "to_vector: the tensor is undefined");
}

}  // namespace
}  // namespace tensorpar
