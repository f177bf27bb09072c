// Element-wise kernels on CUDA, next to their CPU reference core/kernels/cpu/elementwise.cpp.
// One functor per family: the binary arithmetic (equal shapes, broadcast, scalar on either side),
// the unary activations and their derivatives, pow, axpy and affine; each is one for_each launch
// whose body is chosen by the op. bfloat16 computes in float32 and rounds once (as the CPU's
// round trip through float32 does), int64 add/sub/mul wrap, int64 division truncates toward zero.
#include <cmath>
#include <limits>
#include <string>

#include "core/kernels/common.h"
#include "cuda/kernels/cuda_backend.h"
#include "cuda/launch.cuh"

namespace tensorpar::cuda {

using kernels::integral_scalar;
using kernels::visit_float;

namespace {

// ---- binary arithmetic ----

template <class T>
__device__ T apply(BinaryOp op, T x, T y) {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    // wrapping on the uint64 view, as the CPU computes
    const auto ux = static_cast<unsigned long long>(x), uy = static_cast<unsigned long long>(y);
    switch (op) {
      case BinaryOp::Add:
        return static_cast<T>(ux + uy);
      case BinaryOp::Sub:
        return static_cast<T>(ux - uy);
      case BinaryOp::Mul:
        return static_cast<T>(ux * uy);
      case BinaryOp::Div:
        return x / y;  // checked by the caller
    }
    return 0;
  } else {
    switch (op) {
      case BinaryOp::Add:
        return x + y;
      case BinaryOp::Sub:
        return x - y;
      case BinaryOp::Mul:
        return x * y;
      case BinaryOp::Div:
        return x / y;
    }
    return x;
  }
}

// Load and store in the arithmetic type: float for bfloat16, the type itself otherwise.
template <class T>
struct Arith {
  using type = T;
  __device__ static T load(T v) { return v; }
  __device__ static T store(T v) { return v; }
};
template <>
struct Arith<Bf16> {
  using type = float;
  __device__ static float load(Bf16 v) { return to_float(v); }
  __device__ static Bf16 store(float v) { return to_bf16(v); }
};

// The operands' element strides over the output, at most kDims dims (extents of 1 dropped).
constexpr int kDims = 10;
struct Strides {
  int dims = 0;
  std::int64_t extent[kDims];
  std::int64_t a[kDims];
  std::int64_t b[kDims];
};

Strides broadcast_strides(const Shape& out, const Shape& as, const Shape& bs) {
  const std::size_t nd = out.size();
  const auto full = [&](const Shape& s) {
    std::vector<std::int64_t> st(nd, 0);
    const std::vector<std::int64_t> c = contiguous_strides(s);
    for (std::size_t k = 0; k < s.size(); ++k) {
      if (s[k] != 1) st[nd - s.size() + k] = c[k];
    }
    return st;
  };
  const std::vector<std::int64_t> fa = full(as), fb = full(bs);
  Strides s;
  for (std::size_t d = 0; d < nd; ++d) {
    if (out[d] == 1) continue;
    check_arg(s.dims < kDims, "cuda broadcast: more than ", kDims, " dims in ", shape_str(out));
    s.extent[s.dims] = out[d];
    s.a[s.dims] = fa[d];
    s.b[s.dims] = fb[d];
    ++s.dims;
  }
  return s;
}

__device__ inline void offsets(const Strides& s, std::int64_t i, std::int64_t& oa,
                               std::int64_t& ob) {
  oa = 0;
  ob = 0;
  for (int k = s.dims - 1; k >= 0; --k) {
    const std::int64_t at = i % s.extent[k];
    i /= s.extent[k];
    oa += at * s.a[k];
    ob += at * s.b[k];
  }
}

// Flag codes; the larger wins, so division by zero is reported first, as the CPU checks it first.
constexpr unsigned long long kDivByZero = 2, kDivOverflow = 1;

// (Device lambdas may not sit inside the generic lambdas of visit_dtype: each family's typed
// body is a function template, which the visit calls.)

template <class T>
void binary_same_typed(Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op, const char* what,
                       cudaStream_t stream) {
  using D = DeviceElem<T>;
  using A = Arith<D>;
  const D* x = dptr<D>(a);
  const D* y = dptr<D>(b);
  D* o = dptr<D>(out);
  if constexpr (std::is_same_v<T, std::int64_t>) {
    if (op == BinaryOp::Div) {  // checked before anything is written, as the CPU does
      ErrorFlag flag(a);
      unsigned long long* f = flag.get();
      for_each(
          stream, a.numel(),
          [x, y, f] __device__(std::int64_t i) {
            if (y[i] == 0) {
              flag_set(f, kDivByZero);
            } else if (y[i] == -1 && x[i] == std::numeric_limits<std::int64_t>::min()) {
              flag_set(f, kDivOverflow);
            }
          },
          what);
      const std::uint64_t code = flag.read();
      check_arg(code != kDivByZero, what, ": integer division by zero");
      check_arg(code != kDivOverflow, what, ": integer division overflow (int64 min / -1)");
      for_each(
          stream, a.numel(), [x, y, o] __device__(std::int64_t i) { o[i] = x[i] / y[i]; }, what);
      return;
    }
  }
  for_each(
      stream, a.numel(),
      [x, y, o, op] __device__(std::int64_t i) {
        o[i] = A::store(apply(op, A::load(x[i]), A::load(y[i])));
      },
      what);
}

// out = a op b, equal shapes, every dtype; out may be a.
void binary_same(Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op, const char* what) {
  On on(a);
  visit_dtype(a.dtype(), [&]<class T>() { binary_same_typed<T>(out, a, b, op, what, on.stream); });
}

template <class T>
void binary_scalar_typed(Tensor& out, const Tensor& a, double s, BinaryOp op, bool left,
                         const char* what, cudaStream_t stream) {
  using D = DeviceElem<T>;
  using A = Arith<D>;
  using V = typename A::type;
  const D* x = dptr<D>(a);
  D* o = dptr<D>(out);
  V v;
  if constexpr (std::is_same_v<T, std::int64_t>) {
    v = integral_scalar(s, what);
    if (op == BinaryOp::Div && !left) {
      check_arg(v != 0, what, ": integer division by zero");
      if (v == -1) {  // the CPU's overflow check: any int64 min in a
        ErrorFlag flag(a);
        unsigned long long* f = flag.get();
        for_each(
            stream, a.numel(),
            [x, f] __device__(std::int64_t i) {
              if (x[i] == std::numeric_limits<std::int64_t>::min()) flag_set(f, kDivOverflow);
            },
            what);
        check_arg(flag.read() == 0, what, ": integer division overflow (int64 min / -1)");
      }
    }
  } else {
    v = V(s);
  }
  if (left) {
    for_each(
        stream, a.numel(),
        [x, o, v, op] __device__(std::int64_t i) { o[i] = A::store(apply(op, v, A::load(x[i]))); },
        what);
  } else {
    for_each(
        stream, a.numel(),
        [x, o, v, op] __device__(std::int64_t i) { o[i] = A::store(apply(op, A::load(x[i]), v)); },
        what);
  }
}

// out = a op s (or s op a when left); out may be a.
void binary_with_scalar(Tensor& out, const Tensor& a, double s, BinaryOp op, bool left,
                        const char* what) {
  On on(a);
  visit_dtype(a.dtype(),
              [&]<class T>() { binary_scalar_typed<T>(out, a, s, op, left, what, on.stream); });
}

// ---- unary ----

constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluKappa = 0.044715;
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <class T>
__device__ T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}

template <class T>
__device__ T unary_value(UnaryOp op, T x) {
  const T half(0.5), one(1), zero(0);
  switch (op) {
    case UnaryOp::Neg:
      return -x;
    case UnaryOp::Relu:
      return x < zero ? zero : x;  // NaN stays NaN
    case UnaryOp::GeluTanh:
      return half * x * (one + tanh(T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x)));
    case UnaryOp::GeluExact:
      return half * x * (one + erf(x * T(kSqrtHalf)));
    case UnaryOp::Silu:
      return x * sigmoid(x);
    case UnaryOp::Exp:
      return exp(x);
    case UnaryOp::Log:
      return log(x);
    case UnaryOp::Sqrt:
      return sqrt(x);
    case UnaryOp::Rsqrt:
      return one / sqrt(x);
    case UnaryOp::Tanh:
      return tanh(x);
    case UnaryOp::Sigmoid:
      return sigmoid(x);
  }
  return x;
}

// grad * op'(x), from x or y = op(x) as unary_backward documents (the one not read is 0).
template <class T>
__device__ T unary_derivative(UnaryOp op, T g, T x, T y) {
  const T half(0.5), one(1), zero(0);
  switch (op) {
    case UnaryOp::Neg:
      return -g;
    case UnaryOp::Relu:
      return y > zero ? g : zero;
    case UnaryOp::GeluTanh: {
      const T t = tanh(T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x));
      return g * (half * (one + t) +
                  half * x * (one - t * t) * T(kSqrt2OverPi) * (one + T(3 * kGeluKappa) * x * x));
    }
    case UnaryOp::GeluExact: {
      const T cdf = half * (one + erf(x * T(kSqrtHalf)));
      return g * (cdf + x * T(kInvSqrt2Pi) * exp(T(-0.5) * x * x));
    }
    case UnaryOp::Silu: {
      const T s = sigmoid(x);
      return g * s * (one + x * (one - s));
    }
    case UnaryOp::Exp:
      return g * y;
    case UnaryOp::Log:
      return g / x;
    case UnaryOp::Sqrt:
      return g / (T(2) * y);
    case UnaryOp::Rsqrt:
      return T(-0.5) * g * y * y * y;
    case UnaryOp::Tanh:
      return g * (one - y * y);
    case UnaryOp::Sigmoid:
      return g * y * (one - y);
  }
  return g;
}

template <class W>
void broadcast_typed(Tensor& out, const Tensor& t, const Strides& s, cudaStream_t stream) {
  const W* x = dptr<W>(t);
  W* o = dptr<W>(out);
  for_each(
      stream, out.numel(),
      [x, o, s] __device__(std::int64_t i) {
        std::int64_t oa, ob;
        offsets(s, i, oa, ob);
        o[i] = x[oa];
      },
      "broadcast_to");
}

template <class T>
void binary_broadcast_typed(Tensor& out, const Tensor& a, const Tensor& b, const Strides& s,
                            BinaryOp op, const char* what, cudaStream_t stream) {
  const T* x = dptr<T>(a);
  const T* y = dptr<T>(b);
  T* o = dptr<T>(out);
  for_each(
      stream, out.numel(),
      [x, y, o, s, op] __device__(std::int64_t i) {
        std::int64_t oa, ob;
        offsets(s, i, oa, ob);
        o[i] = apply(op, x[oa], y[ob]);
      },
      what);
}

template <class T>
void pow_typed(Tensor& out, const Tensor& a, double exponent, cudaStream_t stream) {
  const T* x = dptr<T>(a);
  T* o = dptr<T>(out);
  const T e = T(exponent);
  for_each(
      stream, a.numel(),
      [x, o, e] __device__(std::int64_t i) {
        o[i] = e == T(2) ? x[i] * x[i] : e == T(0.5) ? sqrt(x[i]) : pow(x[i], e);
      },
      "pow");
}

template <class T>
void pow_backward_typed(Tensor& out, const Tensor& grad, const Tensor& a, double e,
                        cudaStream_t stream) {
  const T* g = dptr<T>(grad);
  const T* x = dptr<T>(a);
  T* o = dptr<T>(out);
  for_each(
      stream, a.numel(),
      [g, x, o, e] __device__(std::int64_t i) {
        if (e == 0) {
          o[i] = T(0);
        } else if (e == 1) {
          o[i] = g[i];
        } else if (e == 2) {
          o[i] = T(2) * g[i] * x[i];
        } else {
          o[i] = T(e) * g[i] * pow(x[i], T(e - 1));
        }
      },
      "pow_backward");
}

template <class T>
void unary_typed(Tensor& out, const Tensor& x, UnaryOp op, cudaStream_t stream) {
  const T* in = dptr<T>(x);
  T* o = dptr<T>(out);
  for_each(
      stream, x.numel(), [in, o, op] __device__(std::int64_t i) { o[i] = unary_value(op, in[i]); },
      kernels::unary_name(op));
}

template <class T>
void unary_backward_typed(Tensor& out, const Tensor& grad, const Tensor& x, const Tensor& y,
                          UnaryOp op, const char* what, cudaStream_t stream) {
  const T* g = dptr<T>(grad);
  const T* xp = x.defined() ? dptr<T>(x) : nullptr;
  const T* yp = y.defined() ? dptr<T>(y) : nullptr;
  T* o = dptr<T>(out);
  for_each(
      stream, grad.numel(),
      [g, xp, yp, o, op] __device__(std::int64_t i) {
        o[i] = unary_derivative(op, g[i], xp ? xp[i] : T(0), yp ? yp[i] : T(0));
      },
      what);
}

template <class T>
void axpy_typed(Tensor& a, double alpha, const Tensor& b, cudaStream_t stream) {
  T* x = dptr<T>(a);
  const T* y = dptr<T>(b);
  const T al = T(alpha);
  const bool one = alpha == 1;
  for_each(
      stream, a.numel(),
      [x, y, al, one] __device__(std::int64_t i) { x[i] += one ? y[i] : al * y[i]; }, "axpy_");
}

template <class T>
void affine_typed(Tensor& t, double a, double b, cudaStream_t stream) {
  T* x = dptr<T>(t);
  for_each(
      stream, t.numel(),
      [x, a, b] __device__(std::int64_t i) { x[i] = static_cast<T>(a + b * double(x[i])); },
      "affine_");
}

// Throws the CPU's "<what>: dtype X is not supported" unless T is float32/float64, or int64 for
// an op other than division (broadcasting and scalar-on-the-left arithmetic).
void require_arithmetic(DType dtype, BinaryOp op, const char* what) {
  if (dtype == DType::Int64 && op != BinaryOp::Div) return;
  if (dtype != DType::Float32 && dtype != DType::Float64) kernels::unsupported_dtype(dtype, what);
}

template <class W>
using Word = std::conditional_t<sizeof(W) == 8, std::uint64_t,
                                std::conditional_t<sizeof(W) == 4, std::uint32_t, std::uint16_t>>;

}  // namespace

Tensor CudaBackend::broadcast_to(const Tensor& t, const Shape& shape) {
  Tensor out = Tensor::empty(shape, t.dtype(), t.device());
  On on(t);
  const Strides s = broadcast_strides(shape, t.shape(), t.shape());
  visit_dtype(t.dtype(), [&]<class T>() { broadcast_typed<Word<T>>(out, t, s, on.stream); });
  return out;
}

Tensor CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& shape,
                           const char* what) {
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (a.shape() == b.shape()) {
    binary_same(out, a, b, op, what);
    return out;
  }
  require_arithmetic(a.dtype(), op, what);
  On on(a);
  const Strides s = broadcast_strides(shape, a.shape(), b.shape());
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, BFloat16>) {
      binary_broadcast_typed<T>(out, a, b, s, op, what, on.stream);
    }
  });
  return out;
}

void CudaBackend::binary_(BinaryOp op, Tensor& a, const Tensor& b, const char* what) {
  binary_same(a, a, b, op, what);
}

Tensor CudaBackend::binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_on_left,
                                  const char* what) {
  if (scalar_on_left) require_arithmetic(a.dtype(), op, what);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  binary_with_scalar(out, a, s, op, scalar_on_left, what);
  return out;
}

void CudaBackend::binary_scalar_(BinaryOp op, Tensor& a, double s, const char* what) {
  binary_with_scalar(a, a, s, op, false, what);
}

Tensor CudaBackend::pow_scalar(const Tensor& a, double exponent) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  On on(a);
  visit_float(a.dtype(), "pow", [&]<class T>() { pow_typed<T>(out, a, exponent, on.stream); });
  return out;
}

Tensor CudaBackend::pow_scalar_backward(const Tensor& grad, const Tensor& a, double exponent) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  On on(a);
  visit_float(a.dtype(), "pow_backward",
              [&]<class T>() { pow_backward_typed<T>(out, grad, a, exponent, on.stream); });
  return out;
}

Tensor CudaBackend::unary(UnaryOp op, const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  On on(x);
  visit_float(x.dtype(), kernels::unary_name(op),
              [&]<class T>() { unary_typed<T>(out, x, op, on.stream); });
  return out;
}

Tensor CudaBackend::unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x,
                                   const Tensor& y) {
  Tensor out = Tensor::empty(grad.shape(), grad.dtype(), grad.device());
  On on(grad);
  const std::string what = tensorpar::cat(kernels::unary_name(op), "_backward");
  visit_float(grad.dtype(), what.c_str(), [&]<class T>() {
    unary_backward_typed<T>(out, grad, x, y, op, what.c_str(), on.stream);
  });
  return out;
}

void CudaBackend::axpy_(Tensor& a, double alpha, const Tensor& b) {
  On on(a);
  visit_float(a.dtype(), "axpy_", [&]<class T>() { axpy_typed<T>(a, alpha, b, on.stream); });
}

void CudaBackend::affine_(Tensor& t, double a, double b) {
  On on(t);
  visit_float(t.dtype(), "affine_", [&]<class T>() { affine_typed<T>(t, a, b, on.stream); });
}

}  // namespace tensorpar::cuda
