// Element-wise kernels: broadcasting walks, binary and scalar arithmetic, unary activations and
// their derivatives. Each op dispatches on dtype and operator once, then runs Eigen array
// expressions over contiguous runs; int64 add/sub/mul run on the uint64 view (wrapping, no UB).
#include "core/kernels/elementwise.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/kernels/cpu/eigen_kernels.h"
// The vectorised erf of gelu_exact (Eigen's own module, outside its stable API only by name).
#include <unsupported/Eigen/SpecialFunctions>
#include "core/kernels/reduce.h"

namespace tensorpar::kernels {

namespace {

void require_same_shape(const Tensor& a, const Tensor& b, const char* what, const char* a_name,
                        const char* b_name) {
  check_arg(a.shape() == b.shape(), what, ": shapes differ: ", a_name, " is ",
            shape_text(a.shape()), ", ", b_name, " is ", shape_text(b.shape()));
}

// ---- broadcasting walk ----

// The output of a broadcast as a few coalesced dims, with each of N operands' element strides
// along them (0 where the operand is stretched). Dims of extent 1 are dropped and neighbours
// that step through memory together are merged, so [N, D] + [D] walks as 2 dims, same-shape
// operands as 1 dim.
template <std::size_t N>
struct Walk {
  Shape extent;
  std::array<std::vector<std::int64_t>, N> stride;
};

template <std::size_t N>
Walk<N> plan_walk(const Shape& out, const std::array<const Shape*, N>& in) {
  const std::size_t ndim = out.size();
  std::array<std::vector<std::int64_t>, N> full;
  for (std::size_t j = 0; j < N; ++j) {
    const Shape& s = *in[j];
    const std::vector<std::int64_t> strides = contiguous_strides(s);
    full[j].assign(ndim, 0);
    for (std::size_t k = 0; k < s.size(); ++k) {
      if (s[k] != 1) full[j][ndim - s.size() + k] = strides[k];
    }
  }
  Walk<N> walk;
  for (std::size_t d = 0; d < ndim; ++d) {
    if (out[d] == 1) continue;
    bool merge = !walk.extent.empty();
    for (std::size_t j = 0; merge && j < N; ++j) {
      merge = walk.stride[j].back() == full[j][d] * out[d];
    }
    if (merge) {
      walk.extent.back() *= out[d];
      for (std::size_t j = 0; j < N; ++j) walk.stride[j].back() = full[j][d];
    } else {
      walk.extent.push_back(out[d]);
      for (std::size_t j = 0; j < N; ++j) walk.stride[j].push_back(full[j][d]);
    }
  }
  if (walk.extent.empty()) {  // every extent is 1: one run of one element
    walk.extent.push_back(1);
    for (std::size_t j = 0; j < N; ++j) walk.stride[j].push_back(0);
  }
  return walk;
}

// Calls run(out_offset, in_offsets, n) for every run of the innermost walk dim (a contiguous run
// of the output; each operand steps by its innermost stride, 0 or 1). Nothing for empty outputs.
template <std::size_t N, class Run>
void for_each_run(const Walk<N>& walk, Run&& run) {
  const std::size_t k = walk.extent.size();
  const std::int64_t n = walk.extent[k - 1];
  const std::int64_t total = numel(walk.extent);
  if (total == 0) return;
  std::vector<std::int64_t> index(k - 1, 0);
  std::array<std::int64_t, N> offset{};
  for (std::int64_t out = 0; out < total; out += n) {
    run(out, offset, n);
    for (std::size_t d = k - 1; d-- > 0;) {
      for (std::size_t j = 0; j < N; ++j) offset[j] += walk.stride[j][d];
      if (++index[d] < walk.extent[d]) break;
      for (std::size_t j = 0; j < N; ++j) offset[j] -= walk.stride[j][d] * walk.extent[d];
      index[d] = 0;
    }
  }
}

// Throws unless `from` broadcasts to exactly `to` (numpy rules; `to` may only add leading dims).
void require_broadcastable(const Shape& from, const Shape& to, const char* what) {
  bool ok = from.size() <= to.size();
  for (std::size_t k = 0; ok && k < from.size(); ++k) {
    const std::int64_t f = from[k], t = to[to.size() - from.size() + k];
    ok = f == t || f == 1;
  }
  check_arg(ok, what, ": shape ", shape_text(from), " cannot be broadcast to ",
            shape_text(to));
}

// ---- binary arithmetic ----

// int64 arithmetic that may overflow runs on the uint64 view of the same bytes.
template <class T>
using Wrap = std::conditional_t<std::is_same_v<T, std::int64_t>, std::uint64_t, T>;

template <BinaryOp op, class X, class Y>
auto apply(const X& x, const Y& y) {
  if constexpr (op == BinaryOp::Add) return x + y;
  if constexpr (op == BinaryOp::Sub) return x - y;
  if constexpr (op == BinaryOp::Mul) return x * y;
  if constexpr (op == BinaryOp::Div) return x / y;
}

// out[0, n) = x op y where each operand advances by its stride (1) or stays put (0).
template <class W, BinaryOp op>
void binary_run(W* out, const W* x, std::int64_t sx, const W* y, std::int64_t sy,
                std::int64_t n) {
  Map<W> o(out, n);
  if (sx != 0 && sy != 0) {
    o = apply<op>(CMap<W>(x, n), CMap<W>(y, n));
  } else if (sx != 0) {
    o = apply<op>(CMap<W>(x, n), y[0]);
  } else if (sy != 0) {
    o = apply<op>(x[0], CMap<W>(y, n));
  } else {
    o.setConstant(apply<op>(x[0], y[0]));
  }
}

template <class W>
using RunFn = void (*)(W*, const W*, std::int64_t, const W*, std::int64_t, std::int64_t);

template <class W>
RunFn<W> binary_run_for(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return &binary_run<W, BinaryOp::Add>;
    case BinaryOp::Sub:
      return &binary_run<W, BinaryOp::Sub>;
    case BinaryOp::Mul:
      return &binary_run<W, BinaryOp::Mul>;
    case BinaryOp::Div:
      return &binary_run<W, BinaryOp::Div>;
  }
  return nullptr;
}

// Calls fn.template operator()<T>() for the dtypes `op` supports: float32 and float64, and int64
// for everything but division.
template <class F>
void visit_arithmetic(DType dtype, BinaryOp op, const char* what, F&& fn) {
  if (dtype == DType::Int64 && op != BinaryOp::Div) return fn.template operator()<std::int64_t>();
  visit_float(dtype, what, fn);
}

// An int64 scalar operand: integral and representable, else std::invalid_argument.
std::int64_t integral_scalar(double s, const char* what) {
  check_arg(s == std::trunc(s) && s >= -9223372036854775808.0 && s < 9223372036854775808.0, what,
            ": scalar ", s, " is not an integer; an int64 tensor keeps its dtype");
  return std::int64_t(s);
}

// a op s (scalar_on_left false) or s op a (true).
Tensor scalar_op(BinaryOp op, const Tensor& a, double s, bool scalar_on_left) {
  const char* what = binary_name(op);
  require(a, what, "a");
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  visit_arithmetic(a.dtype(), op, what, [&]<class T>() {
    using W = Wrap<T>;
    W v;
    if constexpr (std::is_same_v<T, std::int64_t>) {
      v = W(integral_scalar(s, what));
    } else {
      v = W(s);
    }
    const W* x = reinterpret_cast<const W*>(a.data_ptr());
    W* o = reinterpret_cast<W*>(out.data_ptr());
    const RunFn<W> run = binary_run_for<W>(op);
    if (scalar_on_left) {
      run(o, &v, 0, x, 1, a.numel());
    } else {
      run(o, x, 1, &v, 0, a.numel());
    }
  });
  return out;
}

// ---- unary ----

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluKappa = 0.044715;
constexpr double kSqrtHalf = 0.70710678118654752440;    // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)

template <class T>
void unary_into(UnaryOp op, CMap<T> x, Map<T> y) {
  const T half(0.5), one(1), zero(0);
  switch (op) {
    case UnaryOp::Neg:
      y = -x;
      break;
    case UnaryOp::Relu:
      y = (x < zero).select(zero, x);  // NaN stays NaN
      break;
    case UnaryOp::GeluTanh:
      y = half * x * (one + (T(kSqrt2OverPi) * (x + T(kGeluKappa) * x.cube())).tanh());
      break;
    case UnaryOp::GeluExact:
      y = half * x * (one + (x * T(kSqrtHalf)).erf());
      break;
    case UnaryOp::Silu:
      y = x * x.logistic();
      break;
    case UnaryOp::Exp:
      y = x.exp();
      break;
    case UnaryOp::Log:
      y = x.log();
      break;
    case UnaryOp::Sqrt:
      y = x.sqrt();
      break;
    case UnaryOp::Rsqrt:
      y = x.rsqrt();
      break;
    case UnaryOp::Tanh:
      y = x.tanh();
      break;
    case UnaryOp::Sigmoid:
      y = x.logistic();
      break;
  }
}

// out = grad * op'(x), from x or y = op(x) as unary_backward documents.
template <class T>
void unary_backward_into(UnaryOp op, CMap<T> g, const T* xp, const T* yp, Map<T> out) {
  const std::int64_t n = g.size();
  const T half(0.5), one(1), zero(0);
  const CMap<T> x(xp, xp ? n : 0), y(yp, yp ? n : 0);
  switch (op) {
    case UnaryOp::Neg:
      out = -g;
      break;
    case UnaryOp::Relu:
      out = (y > zero).select(g, zero);
      break;
    case UnaryOp::GeluTanh: {
      // d/dx 0.5 x (1 + tanh(u)), u = b (x + k x^3): 0.5 (1 + t) + 0.5 x (1 - t^2) b (1 + 3 k x^2)
      const Vec<T> t = (T(kSqrt2OverPi) * (x + T(kGeluKappa) * x.cube())).tanh();
      out = g * (half * (one + t) + half * x * (one - t.square()) * T(kSqrt2OverPi) *
                                        (one + T(3 * kGeluKappa) * x.square()));
      break;
    }
    case UnaryOp::GeluExact: {
      // d/dx x Phi(x) = Phi(x) + x phi(x)
      const Vec<T> cdf = half * (one + (x * T(kSqrtHalf)).erf());
      out = g * (cdf + x * T(kInvSqrt2Pi) * (T(-0.5) * x.square()).exp());
      break;
    }
    case UnaryOp::Silu: {
      // d/dx x s(x) = s (1 + x (1 - s))
      const Vec<T> s = x.logistic();
      out = g * s * (one + x * (one - s));
      break;
    }
    case UnaryOp::Exp:
      out = g * y;
      break;
    case UnaryOp::Log:
      out = g / x;
      break;
    case UnaryOp::Sqrt:
      out = g / (T(2) * y);
      break;
    case UnaryOp::Rsqrt:
      out = T(-0.5) * g * y.cube();
      break;
    case UnaryOp::Tanh:
      out = g * (one - y.square());
      break;
    case UnaryOp::Sigmoid:
      out = g * y * (one - y);
      break;
  }
}

// Whether unary_backward reads the forward output y (else x, or neither for neg).
bool backward_reads_y(UnaryOp op) {
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
  Tensor out = Tensor::empty(shape, t.dtype());
  const Walk<1> walk = plan_walk<1>(shape, {&t.shape()});
  const bool inner_stretched = walk.stride[0].back() == 0;
  visit_dtype(t.dtype(), [&]<class T>() {
    const T* src = static_cast<const T*>(t.data_ptr());
    T* dst = static_cast<T*>(out.data_ptr());
    for_each_run(walk, [&](std::int64_t o, const std::array<std::int64_t, 1>& in,
                           std::int64_t n) {
      if (inner_stretched) {
        std::fill(dst + o, dst + o + n, src[in[0]]);
      } else {
        std::memcpy(dst + o, src + in[0], std::size_t(n) * sizeof(T));
      }
    });
  });
  return out;
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
  if (dims.empty()) {  // shape == t.shape(): a plain copy
    Tensor out = Tensor::empty(shape, t.dtype());
    if (out.nbytes() > 0) std::memcpy(out.data_ptr(), t.data_ptr(), out.nbytes());
    return out;
  }
  return kernels::sum(t, dims, true).reshape(shape);
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
  Tensor out = Tensor::empty(shape, a.dtype());
  visit_arithmetic(a.dtype(), op, what, [&]<class T>() {
    using W = Wrap<T>;
    const W* x = reinterpret_cast<const W*>(a.data_ptr());
    const W* y = reinterpret_cast<const W*>(b.data_ptr());
    W* o = reinterpret_cast<W*>(out.data_ptr());
    const RunFn<W> run = binary_run_for<W>(op);
    const Walk<2> walk = plan_walk<2>(shape, {&a.shape(), &b.shape()});
    const std::int64_t sx = walk.stride[0].back(), sy = walk.stride[1].back();
    for_each_run(walk, [&](std::int64_t at, const std::array<std::int64_t, 2>& in,
                           std::int64_t n) { run(o + at, x + in[0], sx, y + in[1], sy, n); });
  });
  return out;
}

Tensor binary_scalar(BinaryOp op, const Tensor& a, double s) { return scalar_op(op, a, s, false); }

Tensor scalar_binary(BinaryOp op, double s, const Tensor& a) { return scalar_op(op, a, s, true); }

// ---- pow ----

Tensor pow_scalar(const Tensor& a, double exponent) {
  require(a, "pow", "a");
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  visit_float(a.dtype(), "pow", [&]<class T>() {
    const CMap<T> x = cmap<T>(a);
    Map<T> o = map<T>(out);
    if (exponent == 2) {
      o = x.square();
    } else if (exponent == 0.5) {
      o = x.sqrt();
    } else {
      o = x.pow(T(exponent));
    }
  });
  return out;
}

Tensor pow_scalar_backward(const Tensor& grad, const Tensor& a, double exponent) {
  const char* what = "pow_backward";
  require(grad, what, "grad");
  require(a, what, "a");
  require_same_dtype(grad, a, what, "grad", "a");
  require_same_shape(grad, a, what, "grad", "a");
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  visit_float(a.dtype(), what, [&]<class T>() {
    const CMap<T> g = cmap<T>(grad), x = cmap<T>(a);
    Map<T> o = map<T>(out);
    if (exponent == 0) {
      o.setZero();
    } else if (exponent == 1) {
      o = g;
    } else if (exponent == 2) {
      o = T(2) * g * x;
    } else {
      o = T(exponent) * g * x.pow(T(exponent - 1));
    }
  });
  return out;
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
  const char* what = unary_name(op);
  require(x, what, "x");
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  visit_float(x.dtype(), what, [&]<class T>() { unary_into<T>(op, cmap<T>(x), map<T>(out)); });
  return out;
}

Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x, const Tensor& y) {
  const std::string what = cat(unary_name(op), "_backward");
  require(grad, what.c_str(), "grad");
  const bool reads_y = backward_reads_y(op);
  const bool reads_x = !reads_y && op != UnaryOp::Neg;
  const Tensor& input = reads_y ? y : x;
  const char* input_name = reads_y ? "y" : "x";
  if (reads_x || reads_y) {
    require(input, what.c_str(), input_name);
    require_same_dtype(grad, input, what.c_str(), "grad", input_name);
    require_same_shape(grad, input, what.c_str(), "grad", input_name);
  }
  Tensor out = Tensor::empty(grad.shape(), grad.dtype());
  visit_float(grad.dtype(), what.c_str(), [&]<class T>() {
    const T* xp = reads_x ? static_cast<const T*>(x.data_ptr()) : nullptr;
    const T* yp = reads_y ? static_cast<const T*>(y.data_ptr()) : nullptr;
    unary_backward_into<T>(op, cmap<T>(grad), xp, yp, map<T>(out));
  });
  return out;
}

// ---- axpy ----

void axpy_(Tensor& a, double alpha, const Tensor& b) {
  require_same(a, b, "axpy_", false);
  require_same_dtype(a, b, "axpy_", "a", "b");
  visit_float(a.dtype(), "axpy_", [&]<class T>() {
    Map<T> x = map<T>(a);
    if (alpha == 1) {
      x += cmap<T>(b);
    } else {
      x += T(alpha) * cmap<T>(b);
    }
  });
}

}  // namespace tensorpar::kernels
