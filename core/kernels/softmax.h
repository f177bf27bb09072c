#pragma once
// Softmax and log-softmax along one dim, with their backward formulas (torch.softmax,
// torch.log_softmax). Float32 and Float64; other dtypes throw "softmax: dtype int64 is not
// supported". Numerically stable: the row maximum is subtracted before exponentiating, so
//
//   softmax([1000, 1001], 0)     == [0.2689, 0.7311]     (no overflow)
//   log_softmax([0, ln 3], 0)    == [ln 1/4, ln 3/4]
//
// A row of -inf gives NaN, as torch does. A 0-d tensor is one row of one element (dim 0 or -1).
#include <cstdint>

#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// y = exp(x - max) / sum(exp(x - max)) along `dim` (negative dims count from the end).
Tensor softmax(const Tensor& x, std::int64_t dim);
// Gradient w.r.t. x given y = softmax(x, dim): y * (grad - sum(grad * y, dim)).
Tensor softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim);
// y = x - max - log(sum(exp(x - max))) along `dim`.
Tensor log_softmax(const Tensor& x, std::int64_t dim);
// Gradient w.r.t. x given y = log_softmax(x, dim): grad - exp(y) * sum(grad, dim).
Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim);

}  // namespace tensorpar::kernels
