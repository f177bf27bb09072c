// The CPU backend's matrix products: Eigen's GEMM on row-major maps of the tensor buffers. A
// transposed operand is a .transpose() of its map (no copy); results are written in place with
// noalias(). Leading dims that are plain rows of one product (linear's (..., in), matmul with a
// shared 2-D b) are flattened into a single GEMM.
#include <vector>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {
template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatMap = Eigen::Map<Mat<T>>;
template <class T>
using CMatMap = Eigen::Map<const Mat<T>>;

// c (m x n) = op(a) @ op(b), or c += op(a) @ op(b) when accumulate. a holds an (m x k) matrix,
// or (k x m) when ta; b an (k x n) one, or (n x k) when tb; all row-major.
template <class T>
void gemm(const T* a, bool ta, const T* b, bool tb, T* c, std::int64_t m, std::int64_t n,
          std::int64_t k, bool accumulate) {
  MatMap<T> C(c, m, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) C.setZero();
    return;
  }
  const CMatMap<T> A(a, ta ? k : m, ta ? m : k), B(b, tb ? n : k, tb ? k : n);
  auto product = [&](const auto& op_a, const auto& op_b) {
    if (accumulate) {
      C.noalias() += op_a * op_b;
    } else {
      C.noalias() = op_a * op_b;
    }
  };
  if (!ta && !tb) {
    product(A, B);
  } else if (!ta) {
    product(A, B.transpose());
  } else if (!tb) {
    product(A.transpose(), B);
  } else {
    product(A.transpose(), B.transpose());
  }
}

}  // namespace

Tensor CpuBackend::matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const MatmulDims dims = matmul_dims(a.shape(), b.shape(), trans_a, trans_b);
  const std::int64_t m = dims.m, k = dims.k, n = dims.n, batches = dims.batches;
  const bool a_batched = a.dim() > 2, b_batched = b.dim() > 2;
  Tensor out = Tensor::empty(dims.shape, a.dtype(), a.device());
  visit_float(a.dtype(), "matmul", [&]<class T>() {
    const T* pa = ptr<T>(a);
    const T* pb = ptr<T>(b);
    T* pc = ptr<T>(out);
    if (!b_batched && !trans_a) {  // b shared: the batches of a are just more rows
      gemm<T>(pa, false, pb, trans_b, pc, batches * m, n, k, false);
      return;
    }
    const std::int64_t step_a = a_batched ? m * k : 0;
    const std::int64_t step_b = b_batched ? k * n : 0;
    for (std::int64_t i = 0; i < batches; ++i) {
      gemm<T>(pa + i * step_a, trans_a, pb + i * step_b, trans_b, pc + i * m * n, m, n, k, false);
    }
  });
  return out;
}

Tensor CpuBackend::linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const std::int64_t rows = leading_rows(x.shape()), in = w.shape()[1], out = w.shape()[0];
  Shape shape = x.shape();
  shape.back() = out;
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  visit_float(x.dtype(), "linear", [&]<class T>() {
    T* py = ptr<T>(y);
    if (bias.defined() && rows > 0) {  // y starts as the bias rows; the GEMM accumulates
      MatMap<T>(py, rows, out) = CMatMap<T>(ptr<T>(bias), 1, out).replicate(rows, 1);
    }
    gemm<T>(ptr<T>(x), false, ptr<T>(w), true, py, rows, out, in, bias.defined());
  });
  return y;
}

LinearGrads CpuBackend::linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w,
                                        bool need_x, bool need_w, bool need_bias) {
  const std::int64_t rows = leading_rows(x.shape()), in = w.shape()[1], out = w.shape()[0];
  LinearGrads grads;
  visit_float(x.dtype(), "linear_backward", [&]<class T>() {
    if (need_x) {
      grads.x = Tensor::empty(x.shape(), x.dtype(), x.device());
      gemm<T>(ptr<T>(grad), false, ptr<T>(w), false, ptr<T>(grads.x), rows, in, out, false);
    }
    if (need_w) {
      grads.w = Tensor::empty(w.shape(), w.dtype(), w.device());
      gemm<T>(ptr<T>(grad), true, ptr<T>(x), false, ptr<T>(grads.w), out, in, rows, false);
    }
  });
  if (need_bias) {  // column sums of grad2d: a sum over every dim but the last
    const std::vector<std::int64_t> leading = leading_dims(grad.dim());
    grads.bias = leading.empty() ? clone_data(grad) : sum(grad, leading, false);
  }
  return grads;
}

}  // namespace tensorpar::kernels
