#pragma once
// Matrix-product CPU kernels: batched matmul and the linear layer with its backward. Float32
// and float64; other dtypes throw "<op>: dtype int64 is not supported", mixed dtypes name both.
// Every product is one Eigen GEMM (or one per batch entry) written straight into the result.
//
//   matmul(a [2, 3], b [3, 4])                       -> [2, 4]
//   matmul(a [2, 3], b [4, 3], false, true)          -> [2, 4]      (a @ b^T)
//   matmul(a [5, 2, 3], b [3, 4])                    -> [5, 2, 4]   (b shared by every batch)
//   matmul(a [2, 3], b [5, 3, 4])                    -> [5, 2, 4]   (a shared by every batch)
//   matmul(a [5, 7, 2, 3], b [5, 7, 3, 4])           -> [5, 7, 2, 4]
//   linear(x [8, 16, 32], w [64, 32], bias [64])     -> [8, 16, 64]
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// Batched matrix product op(a) @ op(b), op = transpose of the last two dims when the flag is set.
// a: (..., m, k) and b: (..., k, n) with identical batch dims, or b 2-D (shared by every batch),
// or a 2-D with b batched. 1-D operands throw ("matmul: a must have at least 2 dims, got [3]");
// "matmul: inner dims differ: a is [2, 3], b is [4, 5]".
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// y = x @ w^T + bias; x (..., in), w (out, in), bias (out) or an undefined Tensor.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);

struct LinearGrads {
  Tensor x, w, bias;
};
// Gradients of linear for grad (..., out): x-grad = grad @ w, w-grad = grad2d^T @ x2d, bias-grad
// = column sums of grad2d, where grad2d and x2d flatten the leading dims into rows. Only the
// requested ones are computed (others undefined).
LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w, bool need_x,
                            bool need_w, bool need_bias);

}  // namespace tensorpar::kernels
