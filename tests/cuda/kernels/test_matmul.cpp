// cuda/kernels/matmul.cpp (cuBLASLt) against the CPU backend: every transpose combination,
// batches on either side, linear with its bias epilogue and its backward, empty products, and
// bfloat16 (CUDA only) against the float32 product of the same values.
#include "cuda/cuda_testing.h"
#include "cuda/kernels/cuda_backend.h"

namespace tensorpar::cuda_testing {
namespace {

using CudaMatmul = CudaTest;

TEST_F(CudaMatmul, EveryTransposeAndBatchLayoutMatchesTheCpu) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const Shape as = ta ? Shape{5, 7, 3} : Shape{5, 3, 7};  // m 3, k 7
        const Shape bs = tb ? Shape{4, 7} : Shape{7, 4};        // n 4
        const Tensor a = random(as, dtype), b = random(bs, dtype, -1, 1, 3);
        expect_close(kernels::matmul(on_gpu(a), on_gpu(b), ta, tb), kernels::matmul(a, b, ta, tb));
        const Tensor a2 = random(Shape(as.begin() + 1, as.end()), dtype, -1, 1, 9);
        const Tensor bb = random({5, bs[0], bs[1]}, dtype, -1, 1, 4);
        expect_close(kernels::matmul(on_gpu(a2), on_gpu(bb), ta, tb),
                     kernels::matmul(a2, bb, ta, tb));
        const Tensor ab = random({5, as[1], as[2]}, dtype);
        expect_close(kernels::matmul(on_gpu(ab), on_gpu(bb), ta, tb),
                     kernels::matmul(ab, bb, ta, tb));
      }
    }
  }
}

TEST_F(CudaMatmul, LargeFloat32ProductsStayWithinFloat32RoundingWithoutTf32) {
  const Tensor a = random({256, 512}), b = random({512, 384}, DType::Float32, -1, 1, 3);
  expect_close(kernels::matmul(on_gpu(a), on_gpu(b)), kernels::matmul(a, b), 1e-5);
}

TEST_F(CudaMatmul, LinearAddsTheBiasInTheEpilogueAndItsBackwardMatches) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random({2, 9, 16}, dtype), w = random({24, 16}, dtype, -1, 1, 5);
    const Tensor bias = random({24}, dtype, -1, 1, 6);
    expect_close(kernels::linear(on_gpu(x), on_gpu(w), on_gpu(bias)), kernels::linear(x, w, bias));
    expect_close(kernels::linear(on_gpu(x), on_gpu(w), Tensor()), kernels::linear(x, w, Tensor()));
    const Tensor grad = random({2, 9, 24}, dtype, -1, 1, 8);
    const kernels::LinearGrads got =
        kernels::linear_backward(on_gpu(grad), on_gpu(x), on_gpu(w), true, true, true);
    const kernels::LinearGrads ref = kernels::linear_backward(grad, x, w, true, true, true);
    expect_close(got.x, ref.x);
    expect_close(got.w, ref.w);
    expect_close(got.bias, ref.bias);
  }
}

TEST_F(CudaMatmul, EmptyProductsAreZeroOrTheBias) {
  const Tensor a = zeros({3, 0}, DType::Float32, cpu()), b = zeros({0, 4}, DType::Float32, cpu());
  expect_bitwise(kernels::matmul(on_gpu(a), on_gpu(b)), kernels::matmul(a, b));
  const Tensor x = zeros({2, 0}, DType::Float32, cpu()), w = zeros({3, 0}, DType::Float32, cpu());
  const Tensor bias = random({3});
  expect_bitwise(kernels::linear(on_gpu(x), on_gpu(w), on_gpu(bias)), kernels::linear(x, w, bias));
}

TEST_F(CudaMatmul, Bfloat16AccumulatesInFloat32) {
  const Tensor a = random({64, 256}, DType::BFloat16), b = random({256, 32}, DType::BFloat16);
  const Tensor ref = kernels::matmul(a.to(DType::Float32), b.to(DType::Float32));
  const Tensor got = kernels::matmul(on_gpu(a), on_gpu(b)).to(DType::Float32);
  expect_close(got, ref, 1e-2);  // one bfloat16 rounding of the f32 sum
}

TEST_F(CudaMatmul, Tf32IsAnOptIn) {
  cuda::CudaBackend& backend = cuda::cuda_backend();
  EXPECT_FALSE(backend.allow_tf32());
  backend.set_allow_tf32(true);
  const Tensor a = random({128, 128}), b = random({128, 128}, DType::Float32, -1, 1, 3);
  expect_close(kernels::matmul(on_gpu(a), on_gpu(b)), kernels::matmul(a, b), 5e-3);
  backend.set_allow_tf32(false);
}

}  // namespace
}  // namespace tensorpar::cuda_testing
