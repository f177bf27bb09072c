#pragma once
// Layer norm and RMS norm over the LAST dim (nn.LayerNorm(D), nn.RMSNorm(D)). Float32 and
// Float64. For x of shape [..., D] the statistics have shape [...] (x.shape without the last dim)
// and x's dtype. Worked example, x = [[1, 3]], eps = 0, no affine:
//
//   layer_norm: mean = [2], biased var = [1], rstd = [1], y = [[-1, 1]]
//   rms_norm:   mean(x^2) = [5], rstd = [1/sqrt(5)], y = [[1/sqrt(5), 3/sqrt(5)]]
//
// weight and bias are [D] tensors of x's dtype, or undefined Tensors (no affine transform).
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// rms_norm leaves `mean` undefined.
struct NormResult {
  Tensor y;
  Tensor mean;
  Tensor rstd;
};
// Gradients w.r.t. x, weight and bias; a gradient that was not asked for is undefined.
struct NormGrads {
  Tensor x;
  Tensor weight;
  Tensor bias;
};

// y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(biased var + eps).
NormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// mean and rstd are layer_norm's. need_weight requires a defined weight; need_bias does not
// (the bias gradient is sum(grad) over every dim but the last).
NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                              const Tensor& mean, const Tensor& rstd, bool need_weight,
                              bool need_bias);
// y = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps).
NormResult rms_norm(const Tensor& x, const Tensor& weight, double eps);
NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            const Tensor& rstd, bool need_weight);

}  // namespace tensorpar::kernels
