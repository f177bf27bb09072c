// cuda/kernels/elementwise.cu against the CPU backend: every binary op on every dtype (equal
// shapes bit for bit where the arithmetic is exact), broadcasting, scalars on either side, every
// unary op and its backward, pow, axpy, affine, and the data errors with the CPU's messages.
#include "cuda/cuda_testing.h"

namespace tensorpar::cuda_testing {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

using CudaElementwise = CudaTest;

constexpr BinaryOp kOps[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};

TEST_F(CudaElementwise, EqualShapesMatchTheCpuBitForBitInEveryDType) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16}) {
    const Tensor a = random({7, 33}, dtype), b = random({7, 33}, dtype, 0.5, 3, 9);
    for (BinaryOp op : kOps) {
      expect_bitwise(kernels::binary(op, on_gpu(a), on_gpu(b), "binary"),
                     kernels::binary(op, a, b, "binary"));
    }
  }
  const Tensor a = random_indices({100}, 1000), b = random_indices({100}, 50, 3);
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul}) {
    expect_bitwise(kernels::binary(op, on_gpu(a), on_gpu(b), "binary"),
                   kernels::binary(op, a, b, "binary"));
  }
}

TEST_F(CudaElementwise, Int64DivisionTruncatesAndRejectsZeroAndOverflow) {
  const Tensor a = from_vector<std::int64_t>({7, -7, 9, -9}, {4}, cpu());
  const Tensor b = from_vector<std::int64_t>({2, 2, -4, -4}, {4}, cpu());
  expect_bitwise(kernels::binary_every_dtype(BinaryOp::Div, on_gpu(a), on_gpu(b)),
                 kernels::binary_every_dtype(BinaryOp::Div, a, b));
  const Tensor zero = from_vector<std::int64_t>({1, 0, 1, 1}, {4}, gpu());
  expect_error<std::invalid_argument>(
      [&] { (void)kernels::binary_every_dtype(BinaryOp::Div, on_gpu(a), zero); },
      "div: integer division by zero");
  Tensor in_place = on_gpu(a);  // untouched by a division that fails
  expect_error<std::invalid_argument>(
      [&] { kernels::binary_(BinaryOp::Div, in_place, zero, "div_"); },
      "div_: integer division by zero");
  expect_bitwise(in_place, a);
  const Tensor min = from_vector<std::int64_t>({INT64_MIN}, {1}, gpu());
  const Tensor minus_one = from_vector<std::int64_t>({-1}, {1}, gpu());
  expect_error<std::invalid_argument>(
      [&] { (void)kernels::binary_every_dtype(BinaryOp::Div, min, minus_one); },
      "integer division overflow (int64 min / -1)");
}

TEST_F(CudaElementwise, BroadcastingMatchesTheCpu) {
  const Tensor a = random({4, 1, 3}), b = random({5, 1}, DType::Float32, 1, 2, 3);
  for (BinaryOp op : kOps) {
    expect_bitwise(kernels::binary(op, on_gpu(a), on_gpu(b), "binary"),
                   kernels::binary(op, a, b, "binary"));
  }
  const Tensor rows = random({6, 8}, DType::Float64), bias = random({8}, DType::Float64);
  expect_bitwise(kernels::binary(BinaryOp::Add, on_gpu(rows), on_gpu(bias), "add"),
                 kernels::binary(BinaryOp::Add, rows, bias, "add"));
  const Tensor i = random_indices({3, 1}, 100), j = random_indices({4}, 100, 5);
  expect_bitwise(kernels::binary(BinaryOp::Mul, on_gpu(i), on_gpu(j), "mul"),
                 kernels::binary(BinaryOp::Mul, i, j, "mul"));
  for (DType dtype : {DType::BFloat16}) {
    const Tensor x = random({2, 3}, dtype), y = random({3}, dtype);
    expect_error<std::invalid_argument>(
        [&] { (void)kernels::binary(BinaryOp::Add, on_gpu(x), on_gpu(y), "add"); },
        "dtype bfloat16 is not supported");
  }
}

TEST_F(CudaElementwise, ScalarsOnEitherSideMatchTheCpu) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16}) {
    const Tensor a = random({50}, dtype, 0.5, 2);
    for (BinaryOp op : kOps) {
      expect_bitwise(kernels::binary_scalar(op, on_gpu(a), 1.5),
                     kernels::binary_scalar(op, a, 1.5));
      Tensor in_place = on_gpu(a), ref = a.clone();
      kernels::binary_scalar_(op, in_place, 0.25, "scalar");
      kernels::binary_scalar_(op, ref, 0.25, "scalar");
      expect_bitwise(in_place, ref);
      if (dtype != DType::BFloat16) {
        expect_bitwise(kernels::scalar_binary(op, 3.0, on_gpu(a)),
                       kernels::scalar_binary(op, 3.0, a));
      }
    }
  }
  const Tensor i = random_indices({20}, 1000);
  expect_bitwise(kernels::binary_scalar(BinaryOp::Div, on_gpu(i), -3),
                 kernels::binary_scalar(BinaryOp::Div, i, -3));
  expect_error<std::invalid_argument>(
      [&] { (void)kernels::binary_scalar(BinaryOp::Add, on_gpu(i), 0.5); },
      "scalar 0.5 is not an integer");
}

TEST_F(CudaElementwise, InPlaceBinaryMatchesTheCpu) {
  const Tensor a = random({9, 9}), b = random({9, 9}, DType::Float32, -1, 1, 4);
  Tensor g = on_gpu(a), c = a.clone();
  kernels::binary_(BinaryOp::Mul, g, on_gpu(b), "mul_");
  kernels::binary_(BinaryOp::Mul, c, b, "mul_");
  expect_bitwise(g, c);
}

TEST_F(CudaElementwise, BroadcastToRepeatsEveryDType) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16}) {
    const Tensor t = random({2, 1, 3}, dtype, -9, 9);
    expect_bitwise(kernels::broadcast_to(on_gpu(t), {4, 2, 5, 3}),
                   kernels::broadcast_to(t, {4, 2, 5, 3}));
  }
}

TEST_F(CudaElementwise, UnaryOpsAndTheirBackwardsMatchTheCpu) {
  const UnaryOp ops[] = {UnaryOp::Neg,   UnaryOp::Relu, UnaryOp::GeluTanh, UnaryOp::GeluExact,
                         UnaryOp::Silu,  UnaryOp::Exp,  UnaryOp::Log,      UnaryOp::Sqrt,
                         UnaryOp::Rsqrt, UnaryOp::Tanh, UnaryOp::Sigmoid};
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (UnaryOp op : ops) {
      const bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt;
      const Tensor x = random({513}, dtype, positive ? 0.1 : -4, 4);
      const Tensor y = kernels::unary(op, x);
      const Tensor gy = kernels::unary(op, on_gpu(x));
      expect_close(gy, y, tolerance(dtype) * 4);
      const Tensor grad = random({513}, dtype, -1, 1, 21);
      expect_close(kernels::unary_backward(op, on_gpu(grad), on_gpu(x), on_gpu(y)),
                   kernels::unary_backward(op, grad, x, y), tolerance(dtype) * 4);
    }
  }
}

TEST_F(CudaElementwise, PowAxpyAndAffineMatchTheCpu) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor a = random({300}, dtype, 0.1, 3), g = random({300}, dtype, -1, 1, 5);
    for (double e : {0.0, 0.5, 1.0, 2.0, 3.5}) {
      expect_close(kernels::pow_scalar(on_gpu(a), e), kernels::pow_scalar(a, e));
      expect_close(kernels::pow_scalar_backward(on_gpu(g), on_gpu(a), e),
                   kernels::pow_scalar_backward(g, a, e));
    }
    Tensor x = on_gpu(a), ref = a.clone();
    kernels::axpy_(x, -0.5, on_gpu(g));
    kernels::axpy_(ref, -0.5, g);
    expect_close(x, ref);
    kernels::affine_(x, 1.5, -2);
    kernels::affine_(ref, 1.5, -2);
    expect_close(x, ref);
  }
}

}  // namespace
}  // namespace tensorpar::cuda_testing
