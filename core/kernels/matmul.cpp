// Matrix products through Eigen's GEMM on row-major maps of the tensor buffers. A transposed
// operand is a .transpose() of its map (no copy); results are written in place with noalias().
// Leading dims that are plain rows of one product (linear's (..., in), matmul with a shared 2-D
// b) are flattened into a single GEMM.
#include "core/kernels/matmul.h"

#include <cstring>
#include <string>
#include <vector>

#include "core/kernels/cpu/eigen_kernels.h"
#include "core/kernels/reduce.h"

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

// " (trans_a)" / " (trans_a, trans_b)" / "" for error messages.
std::string transposes(bool ta, bool tb) {
  if (!ta && !tb) return "";
  return cat(" (", ta ? "trans_a" : "", ta && tb ? ", " : "", tb ? "trans_b" : "", ")");
}

// A new tensor with t's elements (Tensor::clone would be recorded by autograd).
Tensor copy_of(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), t.dtype());
  if (out.nbytes() > 0) std::memcpy(out.data_ptr(), t.data_ptr(), out.nbytes());
  return out;
}

// Product of all extents but the last: the rows of a (..., features) tensor.
std::int64_t leading_rows(const Shape& shape) {
  std::int64_t rows = 1;
  for (std::size_t k = 0; k + 1 < shape.size(); ++k) rows *= shape[k];
  return rows;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const char* what = "matmul";
  require(a, what, "a");
  require(b, what, "b");
  require_same_dtype(a, b, what, "a", "b");
  check_arg(a.dim() >= 2, what, ": a must have at least 2 dims, got ", shape_text(a.shape()));
  check_arg(b.dim() >= 2, what, ": b must have at least 2 dims, got ", shape_text(b.shape()));
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const std::int64_t m = trans_a ? as.end()[-1] : as.end()[-2];
  const std::int64_t k = trans_a ? as.end()[-2] : as.end()[-1];
  const std::int64_t kb = trans_b ? bs.end()[-1] : bs.end()[-2];
  const std::int64_t n = trans_b ? bs.end()[-2] : bs.end()[-1];
  check_arg(k == kb, what, ": inner dims differ: a is ", shape_text(as), ", b is ", shape_text(bs),
            transposes(trans_a, trans_b));
  const Shape batch_a(as.begin(), as.end() - 2), batch_b(bs.begin(), bs.end() - 2);
  check_arg(batch_a.empty() || batch_b.empty() || batch_a == batch_b, what,
            ": batch dims differ: a is ", shape_text(as), ", b is ", shape_text(bs),
            "; they must match unless one operand is 2-D");
  Shape shape = batch_a.empty() ? batch_b : batch_a;
  const std::int64_t batches = numel(shape);
  shape.push_back(m);
  shape.push_back(n);
  Tensor out = Tensor::empty(shape, a.dtype());
  visit_float(a.dtype(), what, [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    if (batch_b.empty() && !trans_a) {  // b shared: the batches of a are just more rows
      gemm<T>(pa, false, pb, trans_b, pc, batches * m, n, k, false);
      return;
    }
    const std::int64_t step_a = batch_a.empty() ? 0 : m * k;
    const std::int64_t step_b = batch_b.empty() ? 0 : k * n;
    for (std::int64_t i = 0; i < batches; ++i) {
      gemm<T>(pa + i * step_a, trans_a, pb + i * step_b, trans_b, pc + i * m * n, m, n, k, false);
    }
  });
  return out;
}

namespace {

// The shared checks of linear and linear_backward; returns (rows, in, out).
struct LinearDims {
  std::int64_t rows, in, out;
};

LinearDims check_linear(const Tensor& x, const Tensor& w, const char* what) {
  require(x, what, "x");
  require(w, what, "w");
  require_same_dtype(x, w, what, "x", "w");
  check_arg(w.dim() == 2, what, ": w must be 2-D (out, in), got ", shape_text(w.shape()));
  check_arg(x.dim() >= 1, what, ": x must have at least 1 dim, got ", shape_text(x.shape()));
  check_arg(x.shape().back() == w.shape()[1], what, ": in features differ: x is ",
            shape_text(x.shape()), ", w is ", shape_text(w.shape()));
  return {leading_rows(x.shape()), w.shape()[1], w.shape()[0]};
}

Shape linear_output_shape(const Tensor& x, std::int64_t out) {
  Shape shape = x.shape();
  shape.back() = out;
  return shape;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const char* what = "linear";
  const LinearDims d = check_linear(x, w, what);
  if (bias.defined()) {
    require(bias, what, "bias");
    require_same_dtype(x, bias, what, "x", "bias");
    check_arg(bias.shape() == Shape{d.out}, what, ": bias is ", shape_text(bias.shape()),
              " but w is ", shape_text(w.shape()), "; bias must be [", d.out, "]");
  }
  Tensor y = Tensor::empty(linear_output_shape(x, d.out), x.dtype());
  visit_float(x.dtype(), what, [&]<class T>() {
    T* py = y.data<T>();
    if (bias.defined() && d.rows > 0) {  // y starts as the bias rows; the GEMM accumulates
      MatMap<T>(py, d.rows, d.out) = CMatMap<T>(bias.data<T>(), 1, d.out).replicate(d.rows, 1);
    }
    gemm<T>(x.data<T>(), false, w.data<T>(), true, py, d.rows, d.out, d.in, bias.defined());
  });
  return y;
}

LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w, bool need_x,
                            bool need_w, bool need_bias) {
  const char* what = "linear_backward";
  const LinearDims d = check_linear(x, w, what);
  require(grad, what, "grad");
  require_same_dtype(grad, x, what, "grad", "x");
  const Shape y_shape = linear_output_shape(x, d.out);
  check_arg(grad.shape() == y_shape, what, ": grad is ", shape_text(grad.shape()),
            " but linear(x ", shape_text(x.shape()), ", w ", shape_text(w.shape()), ") is ",
            shape_text(y_shape));
  LinearGrads grads;
  visit_float(x.dtype(), what, [&]<class T>() {
    if (need_x) {
      grads.x = Tensor::empty(x.shape(), x.dtype());
      gemm<T>(grad.data<T>(), false, w.data<T>(), false, grads.x.data<T>(), d.rows, d.in, d.out,
              false);
    }
    if (need_w) {
      grads.w = Tensor::empty(w.shape(), w.dtype());
      gemm<T>(grad.data<T>(), true, x.data<T>(), false, grads.w.data<T>(), d.out, d.in, d.rows,
              false);
    }
  });
  if (need_bias) {  // column sums of grad2d: a sum over every dim but the last
    std::vector<std::int64_t> rows(std::size_t(grad.dim() - 1));
    for (std::size_t k = 0; k < rows.size(); ++k) rows[k] = std::int64_t(k);
    grads.bias = rows.empty() ? copy_of(grad) : kernels::sum(grad, rows, false);
  }
  return grads;
}

}  // namespace tensorpar::kernels
