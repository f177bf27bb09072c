// The masked (row-sharded) embedding lookup and its scatter-add backward.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/kernels/embedding.h"
#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::kernels {
namespace {

using ::testing::ElementsAre;
using testing::expect_error;

// Row r of the table is [10 r, 10 r + 1, 10 r + 2].
Tensor table(std::int64_t rows, DType dtype = DType::Float64) {
  std::vector<double> v;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < 3; ++j) v.push_back(double(10 * r + j));
  }
  return from_vector(v, {rows, 3}).to(dtype);
}

TEST(KernelNnEmbedding, LooksUpRowsForIndicesOfAnyShape) {
  const Tensor idx = from_vector<std::int64_t>({4, 0, 4, 2, 1, 3}, {2, 3});
  const Tensor out = kernels::embedding(table(5), idx);
  EXPECT_EQ(out.shape(), (Shape{2, 3, 3}));
  EXPECT_THAT(to_vector<double>(out),
              ElementsAre(40, 41, 42, 0, 1, 2, 40, 41, 42, 20, 21, 22, 10, 11, 12, 30, 31, 32));
}

TEST(KernelNnEmbedding, Float32LooksUpTheSameRows) {
  const Tensor idx = from_vector<std::int64_t>({2, 2}, {2});
  const Tensor out = kernels::embedding(table(3, DType::Float32), idx);
  EXPECT_EQ(out.dtype(), DType::Float32);
  EXPECT_THAT(to_vector<double>(out), ElementsAre(20, 21, 22, 20, 21, 22));
}

TEST(KernelNnEmbedding, A0DIndexGivesOneRow) {
  EXPECT_THAT(to_vector<double>(kernels::embedding(table(3), full({}, 1.0, DType::Int64))),
              ElementsAre(10, 11, 12));
}

TEST(KernelNnEmbedding, IndicesOutsideTheLocalRowsReadZeros) {
  // This rank holds rows 2 and 3 of a 5-row table.
  const Tensor local = table(5).narrow(0, 2, 2);
  const Tensor out = kernels::embedding(local, from_vector<std::int64_t>({0, 2, 3, 4}, {4}), 2, 5);
  EXPECT_THAT(to_vector<double>(out), ElementsAre(0, 0, 0, 20, 21, 22, 30, 31, 32, 0, 0, 0));
}

TEST(KernelNnEmbedding, TwoHalfTablesSumToTheFullLookup) {
  Generator gen(3);
  const Tensor weight = randn({7, 4}, gen, DType::Float64);
  const Tensor idx = from_vector<std::int64_t>({6, 0, 3, 4, 3, 1, 2, 5}, {2, 2, 2});
  const std::vector<Tensor> halves = weight.chunk(2, 0);  // rows 0-3 and 4-6
  const Tensor summed =
      kernels::embedding(halves[0], idx, 0, 7) + kernels::embedding(halves[1], idx, 4, 7);
  EXPECT_TRUE(equal(summed, kernels::embedding(weight, idx)));
}

TEST(KernelNnEmbedding, BackwardScatterAddsRepeatedIndices) {
  const Tensor idx = from_vector<std::int64_t>({1, 3, 1}, {3});
  const Tensor grad = from_vector<double>({1, 2, 10, 20, 100, 200}, {3, 2});
  EXPECT_THAT(to_vector<double>(embedding_backward(grad, idx, 4)),
              ElementsAre(0, 0, 101, 202, 0, 0, 10, 20));
}

TEST(KernelNnEmbedding, BackwardKeepsOnlyTheLocalRows) {
  const Tensor idx = from_vector<std::int64_t>({0, 2, 3, 2}, {2, 2});
  const Tensor grad = from_vector<float>({1, 1, 2, 2, 3, 3, 4, 4}, {2, 2, 2});
  const Tensor local = embedding_backward(grad, idx, 2, 2);  // rows 2 and 3
  EXPECT_EQ(local.dtype(), DType::Float32);
  EXPECT_THAT(to_vector<double>(local), ElementsAre(6, 6, 3, 3));
}

TEST(KernelNnEmbedding, ShardedBackwardsConcatenateToTheFullGradient) {
  Generator gen(4);
  const Tensor idx = from_vector<std::int64_t>({6, 0, 3, 4, 3, 1}, {6});
  const Tensor grad = randn({6, 5}, gen, DType::Float64);
  const Tensor full_grad = embedding_backward(grad, idx, 7);
  const Tensor parts = cat(
      {embedding_backward(grad, idx, 4, 0), embedding_backward(grad, idx, 3, 4)}, std::int64_t(0));
  EXPECT_TRUE(equal(parts, full_grad));
}

TEST(KernelNnEmbedding, RejectsAnIndexOutOfRange) {
  expect_error<std::invalid_argument>(
      [] {
        kernels::embedding(table(10), from_vector<std::int64_t>({3, 12}, {2}));
      },
      "embedding: index 12 is out of range for 10 embeddings");
  expect_error<std::invalid_argument>(
      [] { kernels::embedding(table(2), from_vector<std::int64_t>({-1}, {1}), 0, 4); },
      "embedding: index -1 is out of range for 4 embeddings");
  // In the table but outside this rank's rows is fine; beyond the table is not.
  expect_error<std::invalid_argument>(
      [] {
        kernels::embedding(table(2), from_vector<std::int64_t>({1, 4}, {2}), 2, 4);
      },
      "embedding: index 4 is out of range for 4 embeddings");
}

TEST(KernelNnEmbedding, RejectsBadArguments) {
  expect_error<std::invalid_argument>(
      [] { kernels::embedding(table(3), from_vector<double>({1}, {1})); },
      "embedding: indices must be int64, got float64");
  expect_error<std::invalid_argument>(
      [] { kernels::embedding(zeros({3}), from_vector<std::int64_t>({1}, {1})); },
      "embedding: weight must be 2-D (rows, D), got shape [3]");
  expect_error<std::invalid_argument>(
      [] { kernels::embedding(table(3), from_vector<std::int64_t>({1}, {1}), 2, 4); },
      "embedding: rows [2, 5) of the weight exceed a table of 4 embeddings");
  expect_error<std::invalid_argument>(
      [] {
        kernels::embedding(zeros({3, 2}, DType::BFloat16), from_vector<std::int64_t>({1}, {1}));
      },
      "embedding: dtype bfloat16 is not supported");
  expect_error<std::invalid_argument>(
      [] {
        embedding_backward(zeros({3, 2}), from_vector<std::int64_t>({1, 2}, {2}), 4);
      },
      "embedding_backward: grad shape [3, 2] must be indices shape [2] + [D]");
  expect_error<std::invalid_argument>(
      [] {
        embedding_backward(zeros({1, 2}), from_vector<std::int64_t>({-2}, {1}), 4);
      },
      "embedding_backward: index -2 is negative");
}

}  // namespace
}  // namespace tensorpar::kernels
