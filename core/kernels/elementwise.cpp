// The element-wise entry points: argument checks with the messages every device gives, then the
// inputs' kernel backend (backend.h).
#include "core/kernels/elementwise.h"

#include <algorithm>
#include <string>

#include "core/kernels/backend.h"
#include "core/kernels/common.h"
#include "core/kernels/reduce.h"

namespace tensorpar::kernels {

namespace {

void require_same_shape(const Tensor& a, const Tensor& b, const char* what, const char* a_name,
                        const char* b_name) {
  check_arg(a.shape() == b.shape(), what, ": shapes differ: ", a_name, " is ",
            shape_text(a.shape()), ", ", b_name, " is ", shape_text(b.shape()));
}

// Throws unless `from` broadcasts to exactly `to` (numpy rules; `to` may only add leading dims).
void require_broadcastable(const Shape& from, const Shape& to, const char* what) {
  bool ok = from.size() <= to.size();
  for (std::size_t k = 0; ok && k < from.size(); ++k) {
    const std::int64_t f = from[k], t = to[to.size() - from.size() + k];
    ok = f == t || f == 1;
  }
  check_arg(ok, what, ": shape ", shape_text(from), " cannot be broadcast to ", shape_text(to));
}

// The dtypes of the broadcasting arithmetic: float32 and float64, and int64 for everything but
// division. "<what>: dtype int64 is not supported".
void require_arithmetic_dtype(DType dtype, BinaryOp op, const char* what) {
  const bool ok = dtype == DType::Float32 || dtype == DType::Float64 ||
                  (dtype == DType::Int64 && op != BinaryOp::Div);
  if (!ok) unsupported_dtype(dtype, what);
}

// a op s (scalar_on_left false) or s op a (true), the broadcasting arithmetic's dtypes.
Tensor scalar_op(BinaryOp op, const Tensor& a, double s, bool scalar_on_left) {
  const char* what = binary_name(op);
  require(a, what, "a");
  require_arithmetic_dtype(a.dtype(), op, what);
  return backend_for(a).binary_scalar(op, a, s, scalar_on_left, what);
}

}  // namespace

// ---- broadcasting ----

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (std::size_t k = 0; k < ndim; ++k) {
    const std::int64_t x = k < ndim - a.size() ? 1 : a[k - (ndim - a.size())];
    const std::int64_t y = k < ndim - b.size() ? 1 : b[k - (ndim - b.size())];
    check_arg(x == y || x == 1 || y == 1, op, ": shapes ", shape_text(a), " and ", shape_text(b),
              " cannot be broadcast");
    out[k] = x == 1 ? y : x;
  }
  return out;
}

Tensor broadcast_to(const Tensor& t, const Shape& shape, const char* op) {
  require(t, op, "input");
  require_broadcastable(t.shape(), shape, op);
  return backend_for(t).broadcast_to(t, shape);
}

Tensor sum_to_shape(const Tensor& t, const Shape& shape) {
  require(t, "sum_to_shape", "input");
  require_broadcastable(shape, t.shape(), "sum_to_shape");
  const std::int64_t added = t.dim() - std::int64_t(shape.size());
  std::vector<std::int64_t> dims;
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    if (d < added || (shape[std::size_t(d - added)] == 1 && t.shape()[std::size_t(d)] != 1)) {
      dims.push_back(d);
    }
  }
  if (dims.empty()) return clone_data(t);  // shape == t.shape(): a plain copy
  return backend_for(t).sum(t, dims, true).reshape(shape);
}

// ---- binary ----

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "add";
    case BinaryOp::Sub:
      return "sub";
    case BinaryOp::Mul:
      return "mul";
    case BinaryOp::Div:
      return "div";
  }
  return "?";
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* what) {
  require(a, what, "a");
  require(b, what, "b");
  require_same_dtype(a, b, what, "a", "b");
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), what);
  require_arithmetic_dtype(a.dtype(), op, what);
  return backend_for({&a, &b}, {"a", "b"}, what).binary(op, a, b, shape, what);
}

Tensor binary_scalar(BinaryOp op, const Tensor& a, double s) { return scalar_op(op, a, s, false); }

Tensor scalar_binary(BinaryOp op, double s, const Tensor& a) { return scalar_op(op, a, s, true); }

Tensor binary_every_dtype(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* what = binary_name(op);
  require_same(a, b, what, true);
  return backend_for({&a, &b}, {"a", "b"}, what).binary(op, a, b, a.shape(), what);
}

Tensor binary_scalar_every_dtype(BinaryOp op, const Tensor& a, double s) {
  const char* what = binary_name(op);
  require(a, what, "a");
  return backend_for(a).binary_scalar(op, a, s, false, what);
}

void binary_(BinaryOp op, Tensor& a, const Tensor& b, const char* what) {
  require_same(a, b, what, true);
  backend_for({&a, &b}, {"a", "b"}, what).binary_(op, a, b, what);
}

void binary_scalar_(BinaryOp op, Tensor& a, double s, const char* what) {
  require(a, what, "self");
  backend_for(a).binary_scalar_(op, a, s, what);
}

// ---- pow ----

Tensor pow_scalar(const Tensor& a, double exponent) {
  require(a, "pow", "a");
  return backend_for(a).pow_scalar(a, exponent);
}

Tensor pow_scalar_backward(const Tensor& grad, const Tensor& a, double exponent) {
  const char* what = "pow_backward";
  require(grad, what, "grad");
  require(a, what, "a");
  require_same_dtype(grad, a, what, "grad", "a");
  require_same_shape(grad, a, what, "grad", "a");
  return backend_for({&grad, &a}, {"grad", "a"}, what).pow_scalar_backward(grad, a, exponent);
}

// ---- unary ----

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
      return "neg";
    case UnaryOp::Relu:
      return "relu";
    case UnaryOp::GeluTanh:
      return "gelu_tanh";
    case UnaryOp::GeluExact:
      return "gelu_exact";
    case UnaryOp::Silu:
      return "silu";
    case UnaryOp::Exp:
      return "exp";
    case UnaryOp::Log:
      return "log";
    case UnaryOp::Sqrt:
      return "sqrt";
    case UnaryOp::Rsqrt:
      return "rsqrt";
    case UnaryOp::Tanh:
      return "tanh";
    case UnaryOp::Sigmoid:
      return "sigmoid";
  }
  return "?";
}

Tensor unary(UnaryOp op, const Tensor& x) {
  require(x, unary_name(op), "x");
  return backend_for(x).unary(op, x);
}

Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x, const Tensor& y) {
  const std::string what = cat(unary_name(op), "_backward");
  require(grad, what.c_str(), "grad");
  const bool reads_y = unary_backward_reads_output(op);
  const bool reads_x = !reads_y && op != UnaryOp::Neg;
  const Tensor& input = reads_y ? y : x;
  const char* input_name = reads_y ? "y" : "x";
  if (reads_x || reads_y) {
    require(input, what.c_str(), input_name);
    require_same_dtype(grad, input, what.c_str(), "grad", input_name);
    require_same_shape(grad, input, what.c_str(), "grad", input_name);
  }
  return backend_for({&grad, &x, &y}, {"grad", "x", "y"}, what.c_str())
      .unary_backward(op, grad, reads_x ? x : Tensor(), reads_y ? y : Tensor());
}

// ---- in place ----

void axpy_(Tensor& a, double alpha, const Tensor& b) {
  require_same(a, b, "axpy_", false);
  require_same_dtype(a, b, "axpy_", "a", "b");
  backend_for({&a, &b}, {"a", "b"}, "axpy_").axpy_(a, alpha, b);
}

void affine_(Tensor& t, double a, double b, const char* what) {
  require(t, what, "t");
  check_arg(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, what,
            ": dtype must be float32 or float64, got ", dtype_name(t.dtype()));
  backend_for(t).affine_(t, a, b);
}

bool unary_backward_reads_output(UnaryOp op) {
  switch (op) {
    case UnaryOp::Relu:
    case UnaryOp::Exp:
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Tanh:
    case UnaryOp::Sigmoid:
      return true;
    default:
      return false;
  }
}

}  // namespace tensorpar::kernels
