// The CPU backend's element-wise kernels: broadcasting walks, binary and scalar arithmetic,
// unary activations and their derivatives. Each op dispatches on dtype and operator once, then
// runs Eigen array expressions over contiguous runs; int64 add/sub/mul run on the uint64 view
// (wrapping, no UB), int64 division truncates toward zero; bfloat16 computes in float32.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/kernels/cpu/cpu_backend.h"
// GCC 12's AVX-512 intrinsics (_mm512_srli_epi32 and friends, reached through Eigen's vectorised
// pow) start from a self-initialised "undefined" vector, which -Wuninitialized reports once they
// are inlined (GCC bug 105593, fixed in 12.3). The warning points into avx512fintrin.h, so it is
// silenced for the headers included here only, not for this file's own code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "core/kernels/cpu/eigen_kernels.h"
// The vectorised erf of gelu_exact (Eigen's own module, outside its stable API only by name).
#include <unsupported/Eigen/SpecialFunctions>
#pragma GCC diagnostic pop

namespace tensorpar::kernels {

namespace {

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
void binary_run(W* out, const W* x, std::int64_t sx, const W* y, std::int64_t sy, std::int64_t n) {
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

// ---- equal shapes, every dtype ----

// out = a op b over equal shapes and dtypes; out may be a itself.
void binary_into(Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op, const char* what) {
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, BFloat16>) {
      Tensor r = a.to(DType::Float32);
      binary_into(r, r, b.to(DType::Float32), op, what);
      out.copy_(r);
    } else {
      using W = Wrap<T>;
      if (op == BinaryOp::Div && std::is_same_v<T, std::int64_t>) {
        auto x = cmap<T>(a), y = cmap<T>(b);
        check_arg(!(y == T(0)).any(), what, ": integer division by zero");
        check_arg(!((x == std::numeric_limits<T>::min()) && (y == T(-1))).any(), what,
                  ": integer division overflow (int64 min / -1)");
        map<T>(out) = x / y;
        return;
      }
      auto x = cmap<W>(a), y = cmap<W>(b);
      auto o = map<W>(out);
      switch (op) {
        case BinaryOp::Add:
          o = x + y;
          break;
        case BinaryOp::Sub:
          o = x - y;
          break;
        case BinaryOp::Mul:
          o = x * y;
          break;
        case BinaryOp::Div:
          o = x / y;
          break;
      }
    }
  });
}

// out = a op s; out may be a itself.
void scalar_into(Tensor& out, const Tensor& a, double s, BinaryOp op, const char* what) {
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, BFloat16>) {
      Tensor r = a.to(DType::Float32);
      scalar_into(r, r, s, op, what);
      out.copy_(r);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      const std::int64_t v = integral_scalar(s, what);
      if (op == BinaryOp::Div) {
        check_arg(v != 0, what, ": integer division by zero");
        auto x = cmap<T>(a);
        check_arg(v != -1 || !(x == std::numeric_limits<T>::min()).any(), what,
                  ": integer division overflow (int64 min / -1)");
        map<T>(out) = x / v;
        return;
      }
      auto x = cmap<std::uint64_t>(a);
      auto o = map<std::uint64_t>(out);
      const auto w = std::uint64_t(v);
      switch (op) {
        case BinaryOp::Add:
          o = x + w;
          break;
        case BinaryOp::Sub:
          o = x - w;
          break;
        case BinaryOp::Mul:
          o = x * w;
          break;
        case BinaryOp::Div:
          break;
      }
    } else {
      auto x = cmap<T>(a);
      auto o = map<T>(out);
      const T v = T(s);
      switch (op) {
        case BinaryOp::Add:
          o = x + v;
          break;
        case BinaryOp::Sub:
          o = x - v;
          break;
        case BinaryOp::Mul:
          o = x * v;
          break;
        case BinaryOp::Div:
          o = x / v;
          break;
      }
    }
  });
}

// s op a with broadcasting's dtypes (float, int64 but for division).
void scalar_left_into(Tensor& out, const Tensor& a, double s, BinaryOp op, const char* what) {
  visit_arithmetic(a.dtype(), op, what, [&]<class T>() {
    using W = Wrap<T>;
    W v;
    if constexpr (std::is_same_v<T, std::int64_t>) {
      v = W(integral_scalar(s, what));
    } else {
      v = W(s);
    }
    binary_run_for<W>(op)(ptr<W>(out), &v, 0, cptr<W>(a), 1, a.numel());
  });
}

}  // namespace

// ---- broadcasting ----

Tensor CpuBackend::broadcast_to(const Tensor& t, const Shape& shape) {
  Tensor out = Tensor::empty(shape, t.dtype(), t.device());
  const Walk<1> walk = plan_walk<1>(shape, {&t.shape()});
  const bool inner_stretched = walk.stride[0].back() == 0;
  visit_dtype(t.dtype(), [&]<class T>() {
    const T* src = cptr<T>(t);
    T* dst = ptr<T>(out);
    for_each_run(walk, [&](std::int64_t o, const std::array<std::int64_t, 1>& in, std::int64_t n) {
      if (inner_stretched) {
        std::fill(dst + o, dst + o + n, src[in[0]]);
      } else {
        std::memcpy(dst + o, src + in[0], std::size_t(n) * sizeof(T));
      }
    });
  });
  return out;
}

// ---- binary ----

Tensor CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& shape,
                          const char* what) {
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (a.shape() == b.shape()) {
    binary_into(out, a, b, op, what);
    return out;
  }
  visit_arithmetic(a.dtype(), op, what, [&]<class T>() {
    using W = Wrap<T>;
    const W* x = cptr<W>(a);
    const W* y = cptr<W>(b);
    W* o = ptr<W>(out);
    const RunFn<W> run = binary_run_for<W>(op);
    const Walk<2> walk = plan_walk<2>(shape, {&a.shape(), &b.shape()});
    const std::int64_t sx = walk.stride[0].back(), sy = walk.stride[1].back();
    for_each_run(walk, [&](std::int64_t at, const std::array<std::int64_t, 2>& in, std::int64_t n) {
      run(o + at, x + in[0], sx, y + in[1], sy, n);
    });
  });
  return out;
}

void CpuBackend::binary_(BinaryOp op, Tensor& a, const Tensor& b, const char* what) {
  binary_into(a, a, b, op, what);
}

Tensor CpuBackend::binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_on_left,
                                 const char* what) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (scalar_on_left) {
    scalar_left_into(out, a, s, op, what);
  } else {
    scalar_into(out, a, s, op, what);
  }
  return out;
}

void CpuBackend::binary_scalar_(BinaryOp op, Tensor& a, double s, const char* what) {
  scalar_into(a, a, s, op, what);
}

// ---- pow ----

Tensor CpuBackend::pow_scalar(const Tensor& a, double exponent) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
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

Tensor CpuBackend::pow_scalar_backward(const Tensor& grad, const Tensor& a, double exponent) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  visit_float(a.dtype(), "pow_backward", [&]<class T>() {
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

Tensor CpuBackend::unary(UnaryOp op, const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  visit_float(x.dtype(), unary_name(op),
              [&]<class T>() { unary_into<T>(op, cmap<T>(x), map<T>(out)); });
  return out;
}

Tensor CpuBackend::unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x,
                                  const Tensor& y) {
  const bool reads_y = unary_backward_reads_output(op);
  const bool reads_x = !reads_y && op != UnaryOp::Neg;
  Tensor out = Tensor::empty(grad.shape(), grad.dtype(), grad.device());
  const std::string what = tensorpar::cat(unary_name(op), "_backward");
  visit_float(grad.dtype(), what.c_str(), [&]<class T>() {
    const T* xp = reads_x ? cptr<T>(x) : nullptr;
    const T* yp = reads_y ? cptr<T>(y) : nullptr;
    unary_backward_into<T>(op, cmap<T>(grad), xp, yp, map<T>(out));
  });
  return out;
}

// ---- in place ----

void CpuBackend::axpy_(Tensor& a, double alpha, const Tensor& b) {
  visit_float(a.dtype(), "axpy_", [&]<class T>() {
    Map<T> x = map<T>(a);
    if (alpha == 1) {
      x += cmap<T>(b);
    } else {
      x += T(alpha) * cmap<T>(b);
    }
  });
}

void CpuBackend::affine_(Tensor& t, double a, double b) {
  visit_float(t.dtype(), "affine_", [&]<class T>() {
    T* x = ptr<T>(t);
    const std::int64_t n = t.numel();
    for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(a + b * x[i]);
  });
}

}  // namespace tensorpar::kernels
