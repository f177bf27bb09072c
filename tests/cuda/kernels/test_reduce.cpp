// cuda/kernels/reduce.cu and layout.cu against the CPU backend: sums over dim sets, means, max
// and argmax (NaN wins, first maximum), reduce_all/reduce_dim in every dtype, comparisons,
// permute, cat and the causal mask (bit for bit).
#include <limits>

#include "cuda/cuda_testing.h"

namespace tensorpar::cuda_testing {
namespace {

using kernels::ReduceOp;

using CudaReduce = CudaTest;

TEST_F(CudaReduce, SumsOverEveryDimSetMatchTheCpu) {
  const Tensor x = random({4, 5, 6, 7}, DType::Float64);
  const std::vector<std::vector<std::int64_t>> sets = {{},     {0},    {1},       {3},     {0, 1},
                                                       {1, 3}, {0, 2}, {0, 1, 2}, {-1, -2}};
  for (const auto& dims : sets) {
    for (bool keepdim : {false, true}) {
      expect_close(kernels::sum(on_gpu(x), dims, keepdim), kernels::sum(x, dims, keepdim));
      expect_close(kernels::mean(on_gpu(x), dims, keepdim), kernels::mean(x, dims, keepdim));
    }
  }
  const Tensor f = random({3000, 37}, DType::Float32);
  expect_close(kernels::sum(on_gpu(f), {1}, false), kernels::sum(f, {1}, false), 1e-5);
  const Tensor i = random_indices({30, 40}, 1000);
  expect_bitwise(kernels::sum(on_gpu(i), {1}, false), kernels::sum(i, {1}, false));
}

TEST_F(CudaReduce, ColumnSumsAddTheCpusChunksInTheCpusOrderBitForBit) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor bias_grad = random({3000, 37}, dtype);  // long columns: the two-pass kernel
    expect_bitwise(kernels::sum(on_gpu(bias_grad), {0}, false),
                   kernels::sum(bias_grad, {0}, false));
    const Tensor middle = random({2, 1500, 5}, dtype);
    expect_bitwise(kernels::sum(on_gpu(middle), {1}, true), kernels::sum(middle, {1}, true));
    expect_bitwise(kernels::mean(on_gpu(middle), {1}, true), kernels::mean(middle, {1}, true));
  }
  const Tensor wide = random({513, 65536}, DType::Float32);  // many columns: one thread each
  expect_bitwise(kernels::sum(on_gpu(wide), {0}, false), kernels::sum(wide, {0}, false));
}

TEST_F(CudaReduce, EmptyReductionsGiveZeroSumsAndNanMeans) {
  const Tensor x = zeros({0, 3}, DType::Float32, cpu());
  expect_bitwise(kernels::sum(on_gpu(x), {0}, false), kernels::sum(x, {0}, false));
  expect_close(kernels::mean(on_gpu(x), {0}, false), kernels::mean(x, {0}, false));
}

TEST_F(CudaReduce, MaxDimKeepsTheFirstMaximumAndNanWins) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = from_vector<double>({1, 5, 5, 2, nan, 3, 4, 4, 0, 9, 9, 1}, {3, 4}, cpu());
  for (std::int64_t dim : {0, 1}) {
    const kernels::MaxResult got = kernels::max_dim(on_gpu(x), dim, false);
    const kernels::MaxResult ref = kernels::max_dim(x, dim, false);
    expect_close(got.values, ref.values);
    expect_bitwise(got.indices, ref.indices);
    const Tensor grad = random(ref.values.shape(), DType::Float64);
    expect_bitwise(kernels::max_dim_backward(on_gpu(grad), got.indices, x.shape(), dim, false),
                   kernels::max_dim_backward(grad, ref.indices, x.shape(), dim, false));
  }
  const Tensor big = random({6, 1000}, DType::Float32);
  const kernels::MaxResult got = kernels::max_dim(on_gpu(big), 1, true);
  expect_bitwise(got.indices, kernels::max_dim(big, 1, true).indices);
}

TEST_F(CudaReduce, MaxDimBackwardRejectsAnIndexOutOfRange) {
  const Tensor grad = ones({2}, DType::Float32, gpu());
  const Tensor bad = from_vector<std::int64_t>({0, 7}, {2}, gpu());
  expect_error<std::invalid_argument>(
      [&] {
        (void)kernels::max_dim_backward(grad, bad, {2, 3}, 1, false);
      },
      "max_dim_backward: index 7 is out of range for dim 1 of size 3");
}

TEST_F(CudaReduce, ReduceAllAndReduceDimTakeEveryDType) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16}) {
    const Tensor x = random({6, 9}, dtype, 1, 3);
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod}) {
      expect_close(kernels::reduce(op, on_gpu(x)), kernels::reduce(op, x), 1e-5);
      for (std::int64_t dim : {0, 1}) {
        expect_close(kernels::reduce(op, on_gpu(x), dim, false), kernels::reduce(op, x, dim, false),
                     1e-5);
      }
    }
  }
}

TEST_F(CudaReduce, ComparisonsAgreeWithTheCpu) {
  const Tensor a = random({100}), b = a.clone();
  EXPECT_TRUE(equal(on_gpu(a), on_gpu(b)));
  const Tensor c = kernels::binary_scalar(kernels::BinaryOp::Add, a, 1e-3);
  EXPECT_FALSE(equal(on_gpu(a), on_gpu(c)));
  EXPECT_TRUE(allclose(on_gpu(a), on_gpu(c), 0, 2e-3));
  EXPECT_FALSE(allclose(on_gpu(a), on_gpu(c), 0, 1e-4));
  EXPECT_DOUBLE_EQ(max_abs_diff(on_gpu(a), on_gpu(c)), max_abs_diff(a, c));
  const Tensor nan = full({3}, std::nan(""), DType::Float32, gpu());
  EXPECT_FALSE(equal(nan, nan));
  EXPECT_TRUE(std::isnan(max_abs_diff(nan, on_gpu(random({3})))));
}

TEST_F(CudaReduce, PermuteMovesTheSameBytes) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int64}) {
    const Tensor x = random({3, 4, 5, 6}, dtype, -50, 50);
    for (const std::vector<std::int64_t>& perm : std::vector<std::vector<std::int64_t>>{
             {0, 2, 1, 3}, {3, 2, 1, 0}, {1, 0, 2, 3}, {0, 1, 3, 2}}) {
      expect_bitwise(kernels::permute(on_gpu(x), perm), kernels::permute(x, perm));
    }
  }
}

TEST_F(CudaReduce, CausalMaskAndItsBackwardMatchTheCpu) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor s = random({2, 3, 5, 7}, dtype), g = on_gpu(s);
    kernels::causal_mask_(s);
    kernels::causal_mask_(g);
    expect_bitwise(g, s);
    kernels::causal_mask_backward_(s);
    kernels::causal_mask_backward_(g);
    expect_bitwise(g, s);
  }
}

}  // namespace
}  // namespace tensorpar::cuda_testing
