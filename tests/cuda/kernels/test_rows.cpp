// cuda/kernels/rows.cu against the CPU backend: softmax and log-softmax along the last and an
// inner dim (masked -inf scores exactly 0), their backwards, layer and RMS norm with and without
// affine parameters, and their backwards (weight and bias gradients summed in row order).
#include <limits>

#include "cuda/cuda_testing.h"

namespace tensorpar::cuda_testing {
namespace {

using CudaRows = CudaTest;

TEST_F(CudaRows, SoftmaxAndLogSoftmaxMatchTheCpuAlongAnyDim) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random({3, 17, 300}, dtype, -8, 8);
    for (std::int64_t dim : {2, 1, 0}) {
      const Tensor y = kernels::softmax(x, dim), ly = kernels::log_softmax(x, dim);
      expect_close(kernels::softmax(on_gpu(x), dim), y);
      expect_close(kernels::log_softmax(on_gpu(x), dim), ly);
      const Tensor g = random(x.shape(), dtype, -1, 1, 5);
      expect_close(kernels::softmax_backward(on_gpu(g), on_gpu(y), dim),
                   kernels::softmax_backward(g, y, dim));
      expect_close(kernels::log_softmax_backward(on_gpu(g), on_gpu(ly), dim),
                   kernels::log_softmax_backward(g, ly, dim));
    }
  }
}

TEST_F(CudaRows, AMaskedScoreGetsExactlyZero) {
  Tensor scores = random({2, 6, 6});
  kernels::causal_mask_(scores);
  const Tensor y = kernels::softmax(on_gpu(scores), -1).to(cpu());
  const std::vector<float> v = to_vector<float>(y);
  for (std::int64_t r = 0; r < 12; ++r) {
    for (std::int64_t j = r % 6 + 1; j < 6; ++j) EXPECT_EQ(v[std::size_t(r * 6 + j)], 0.0f);
  }
  expect_close(on_gpu(y), kernels::softmax(scores, -1));
}

TEST_F(CudaRows, LayerNormAndItsBackwardMatchTheCpu) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random({4, 5, 96}, dtype, -3, 5);
    const Tensor w = random({96}, dtype, 0.5, 1.5, 2), b = random({96}, dtype, -1, 1, 3);
    for (bool affine : {false, true}) {
      const Tensor wt = affine ? w : Tensor(), bt = affine ? b : Tensor();
      const kernels::NormResult ref = kernels::layer_norm(x, wt, bt, 1e-5);
      const kernels::NormResult got = kernels::layer_norm(on_gpu(x), on_gpu(wt), on_gpu(bt), 1e-5);
      expect_close(got.y, ref.y);
      expect_close(got.mean, ref.mean);
      expect_close(got.rstd, ref.rstd);
      const Tensor g = random(x.shape(), dtype, -1, 1, 4);
      const kernels::NormGrads gr =
          kernels::layer_norm_backward(g, x, wt, ref.mean, ref.rstd, affine, true);
      const kernels::NormGrads gg = kernels::layer_norm_backward(on_gpu(g), on_gpu(x), on_gpu(wt),
                                                                 got.mean, got.rstd, affine, true);
      expect_close(gg.x, gr.x);
      expect_close(gg.bias, gr.bias);
      if (affine) expect_close(gg.weight, gr.weight);
    }
  }
}

TEST_F(CudaRows, RmsNormAndItsBackwardMatchTheCpu) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random({7, 1000}, dtype, -3, 5), w = random({1000}, dtype, 0.5, 1.5, 2);
    const kernels::NormResult ref = kernels::rms_norm(x, w, 1e-6);
    const kernels::NormResult got = kernels::rms_norm(on_gpu(x), on_gpu(w), 1e-6);
    expect_close(got.y, ref.y);
    expect_close(got.rstd, ref.rstd);
    EXPECT_FALSE(got.mean.defined());
    const Tensor g = random(x.shape(), dtype, -1, 1, 4);
    const kernels::NormGrads gr = kernels::rms_norm_backward(g, x, w, ref.rstd, true);
    const kernels::NormGrads gg =
        kernels::rms_norm_backward(on_gpu(g), on_gpu(x), on_gpu(w), got.rstd, true);
    expect_close(gg.x, gr.x);
    expect_close(gg.weight, gr.weight);
  }
}

}  // namespace
}  // namespace tensorpar::cuda_testing
