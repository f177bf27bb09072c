// Reductions and comparisons over contiguous buffers. bfloat16 reduces in float32 and rounds
// the result once; int64 sum/prod wrap modulo 2^64; max/min propagate NaN as torch does.
#include <cmath>
#include <limits>

#include "core/kernels/dense_ops.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar {

namespace {

using namespace kernels;

enum class Reduce { Sum, Max, Min, Prod };

const char* reduce_name(Reduce r) {
  switch (r) {
    case Reduce::Sum:
      return "sum";
    case Reduce::Max:
      return "max";
    case Reduce::Min:
      return "min";
    case Reduce::Prod:
      return "prod";
  }
  return "?";
}

// Reduces a contiguous vector; max/min propagate NaN as torch does.
template <class T, class X>
T reduce_all(Reduce r, const X& x) {
  constexpr bool floating = std::is_floating_point_v<T>;
  switch (r) {
    case Reduce::Sum:
      return x.sum();
    case Reduce::Prod:
      return x.prod();
    case Reduce::Max:
      if constexpr (floating)
        return x.template maxCoeff<Eigen::PropagateNaN>();
      else
        return x.maxCoeff();
    case Reduce::Min:
      if constexpr (floating)
        return x.template minCoeff<Eigen::PropagateNaN>();
      else
        return x.minCoeff();
  }
  return T(0);
}

// acc = acc (op) row, element-wise.
template <class T, class A, class R>
void combine(Reduce r, A& acc, const R& row) {
  constexpr bool floating = std::is_floating_point_v<T>;
  switch (r) {
    case Reduce::Sum:
      acc += row;
      break;
    case Reduce::Prod:
      acc *= row;
      break;
    case Reduce::Max:
      if constexpr (floating) {
        acc = acc.binaryExpr(row, Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>());
      } else {
        acc = acc.max(row);
      }
      break;
    case Reduce::Min:
      if constexpr (floating) {
        acc = acc.binaryExpr(row, Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>());
      } else {
        acc = acc.min(row);
      }
      break;
  }
}

// Calls fn.template operator()<A>() with the element type the reduction runs on: the dtype's
// own type, except int64 sum/prod, which wrap on the unsigned view. Not for bfloat16.
template <class F>
void visit_reduce_type(DType dtype, Reduce r, F&& fn) {
  visit_dtype(dtype, [&]<class T>() {
    if constexpr (std::is_same_v<T, std::int64_t>) {
      if (r == Reduce::Sum || r == Reduce::Prod) {
        fn.template operator()<std::uint64_t>();
      } else {
        fn.template operator()<T>();
      }
    } else if constexpr (!std::is_same_v<T, BFloat16>) {
      fn.template operator()<T>();
    }
  });
}

// Reduces dim `d` of `t` viewed as [outer, n, inner] into `out` of [outer, inner].
template <class A>
void reduce_dim_into(Reduce r, const Tensor& t, Tensor& out, std::int64_t outer, std::int64_t n,
                     std::int64_t inner) {
  const A* src = reinterpret_cast<const A*>(t.data_ptr());
  A* dst = reinterpret_cast<A*>(out.data_ptr());
  for (std::int64_t o = 0; o < outer; ++o) {
    const A* block = src + o * n * inner;
    if (inner == 1) {
      dst[o] = reduce_all<A>(r, CMap<A>(block, n));
      continue;
    }
    Map<A> acc(dst + o * inner, inner);
    if (n == 0) {
      acc.setConstant(r == Reduce::Prod ? A(1) : A(0));
      continue;
    }
    acc = CMap<A>(block, inner);
    for (std::int64_t k = 1; k < n; ++k) combine<A>(r, acc, CMap<A>(block + k * inner, inner));
  }
}

Tensor reduce(const Tensor& t, Reduce r) {
  const char* what = reduce_name(r);
  require(t, what, "input");
  check_arg(t.numel() > 0 || r == Reduce::Sum || r == Reduce::Prod, what,
            ": cannot reduce an empty tensor of shape ", shape_text(t.shape()));
  if (t.dtype() == DType::BFloat16) return reduce(t.to(DType::Float32), r).to(DType::BFloat16);
  Tensor out = Tensor::empty({}, t.dtype());
  visit_reduce_type(t.dtype(), r, [&]<class A>() {
    *reinterpret_cast<A*>(out.data_ptr()) = reduce_all<A>(r, cmap<A>(t));
  });
  return out;
}

Tensor reduce(const Tensor& t, std::int64_t dim, bool keepdim, Reduce r) {
  const char* what = reduce_name(r);
  require(t, what, "input");
  const std::int64_t d = normalize_dim(dim, t.dim(), what);
  const Shape& shape = t.shape();
  const std::int64_t n = shape[std::size_t(d)];
  Shape out_shape = shape;
  if (keepdim) {
    out_shape[std::size_t(d)] = 1;
  } else {
    out_shape.erase(out_shape.begin() + d);
  }
  check_arg(n > 0 || r == Reduce::Sum || r == Reduce::Prod || numel(out_shape) == 0, what,
            ": cannot reduce dim ", d, " of size 0 (shape ", shape_text(shape), ")");
  if (t.dtype() == DType::BFloat16) {
    return reduce(t.to(DType::Float32), d, keepdim, r).to(DType::BFloat16);
  }
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t k = 0; k < d; ++k) outer *= shape[std::size_t(k)];
  for (std::int64_t k = d + 1; k < t.dim(); ++k) inner *= shape[std::size_t(k)];
  Tensor out = Tensor::empty(out_shape, t.dtype());
  if (out.numel() == 0) return out;
  visit_reduce_type(t.dtype(), r,
                    [&]<class A>() { reduce_dim_into<A>(r, t, out, outer, n, inner); });
  return out;
}

}  // namespace

namespace dense {
Tensor sum(const Tensor& t) { return reduce(t, Reduce::Sum); }
Tensor max(const Tensor& t) { return reduce(t, Reduce::Max); }
Tensor min(const Tensor& t) { return reduce(t, Reduce::Min); }
Tensor prod(const Tensor& t) { return reduce(t, Reduce::Prod); }
Tensor sum(const Tensor& t, std::int64_t dim, bool keepdim) {
  return reduce(t, dim, keepdim, Reduce::Sum);
}
Tensor max(const Tensor& t, std::int64_t dim, bool keepdim) {
  return reduce(t, dim, keepdim, Reduce::Max);
}
Tensor min(const Tensor& t, std::int64_t dim, bool keepdim) {
  return reduce(t, dim, keepdim, Reduce::Min);
}
Tensor prod(const Tensor& t, std::int64_t dim, bool keepdim) {
  return reduce(t, dim, keepdim, Reduce::Prod);
}

}  // namespace dense

// ---- comparisons ----

// -0 equals +0 and NaN equals nothing, as in torch.equal.
bool equal(const Tensor& a, const Tensor& b) {
  require(a, "equal", "a");
  require(b, "equal", "b");
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.dtype() == DType::BFloat16) return equal(a.to(DType::Float32), b.to(DType::Float32));
  return visit_dtype(a.dtype(), [&]<class T>() -> bool {
    if constexpr (std::is_same_v<T, BFloat16>) {
      return false;
    } else {
      return (cmap<T>(a) == cmap<T>(b)).all();
    }
  });
}

// torch.isclose without equal_nan: equal values (infinities included) are close, otherwise the
// error must be finite and within tolerance; NaN is close to nothing.
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  require(a, "allclose", "a");
  require(b, "allclose", "b");
  check_arg(rtol >= 0 && atol >= 0, "allclose: rtol ", rtol, " and atol ", atol,
            " must be non-negative");
  if (a.shape() != b.shape()) return false;
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  auto u = cmap<double>(x), v = cmap<double>(y);
  const auto error = (u - v).abs();
  return ((u == v) || (error.isFinite() && error <= atol + rtol * v.abs())).all();
}

// NaN when any difference is NaN.
double max_abs_diff(const Tensor& a, const Tensor& b) {
  require_same(a, b, "max_abs_diff", false);
  if (a.numel() == 0) return 0.0;
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  return (cmap<double>(x) - cmap<double>(y)).abs().template maxCoeff<Eigen::PropagateNaN>();
}

}  // namespace tensorpar
