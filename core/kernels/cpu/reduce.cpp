// The CPU backend's reductions. Sums over a dim set run as [outer, n, inner] blocks: the
// reduced dims are coalesced first, so a sum over the last dim is a row sum of an [outer, n]
// matrix, over the first dim or over all but the last dim (bias gradients) a column sum of an
// [n, inner] matrix, accumulated row by row with Eigen; any other dim set reduces one coalesced
// group at a time from the innermost outwards. The sum/max/min/prod of ops.h (reduce_all,
// reduce_dim) take every dtype: bfloat16 reduces in float32 and rounds the result once.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

// Calls fn.template operator()<T>() for float32 / float64, and int64 when with_int64.
template <class F>
void visit_numeric(DType dtype, bool with_int64, const char* what, F&& fn) {
  switch (dtype) {
    case DType::Float32:
      return fn.template operator()<float>();
    case DType::Float64:
      return fn.template operator()<double>();
    case DType::Int64:
      if (with_int64) return fn.template operator()<std::int64_t>();
      unsupported_dtype(dtype, what);
    default:
      unsupported_dtype(dtype, what);
  }
}

// int64 sums wrap on the uint64 view of the same bytes.
template <class T>
using Wrap = std::conditional_t<std::is_same_v<T, std::int64_t>, std::uint64_t, T>;

// Rows per partial sum when accumulating a column sum: bounds float rounding error growth to
// about kChunk + n / kChunk additions instead of n.
constexpr std::int64_t kChunk = 512;

// dst[o, i] = sum over k of src[o, k, i], for a block of [outer, n, inner] with n > 0.
template <class W>
void sum_block(const W* src, W* dst, std::int64_t outer, std::int64_t n, std::int64_t inner) {
  if (inner == 1) {
    for (std::int64_t o = 0; o < outer; ++o) dst[o] = CMap<W>(src + o * n, n).sum();
    return;
  }
  Vec<W> partial(n > kChunk ? inner : 0);
  for (std::int64_t o = 0; o < outer; ++o) {
    const W* block = src + o * n * inner;
    Map<W> acc(dst + o * inner, inner);
    acc = CMap<W>(block, inner);
    std::int64_t k = 1;
    for (; k < std::min(n, kChunk); ++k) acc += CMap<W>(block + k * inner, inner);
    while (k < n) {
      const std::int64_t end = std::min(n, k + kChunk);
      partial = CMap<W>(block + k * inner, inner);
      for (++k; k < end; ++k) partial += CMap<W>(block + k * inner, inner);
      acc += partial;
    }
  }
}

// Sums the reduced groups of src (numel > 0) into dst, innermost group first.
template <class W>
void sum_groups(const W* src, W* dst, std::vector<DimGroup> groups) {
  Vec<W> scratch[2];
  int next = 0;
  while (true) {
    std::size_t r = groups.size();
    for (std::size_t g = groups.size(); g-- > 0;) {
      if (groups[g].reduced) {
        r = g;
        break;
      }
    }
    std::int64_t outer = 1, inner = 1;
    for (std::size_t g = 0; g < r; ++g) outer *= groups[g].extent;
    for (std::size_t g = r + 1; g < groups.size(); ++g) inner *= groups[g].extent;
    bool last = true;
    for (std::size_t g = 0; g < r; ++g) last = last && !groups[g].reduced;
    W* out = dst;
    if (!last) {
      scratch[next].resize(outer * inner);
      out = scratch[next].data();
    }
    sum_block<W>(src, out, outer, groups[r].extent, inner);
    if (last) return;
    groups.erase(groups.begin() + std::ptrdiff_t(r));
    src = out;
    next = 1 - next;
  }
}

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// The largest element, NaN when there is one (n > 0).
template <class T>
T max_of(const CMap<T>& row) {
  if constexpr (std::is_floating_point_v<T>) {
    return row.template maxCoeff<Eigen::PropagateNaN>();
  } else {
    return row.maxCoeff();
  }
}

// ---- sum, max, min, prod for every dtype ----

// Reduces a contiguous vector; max/min propagate NaN as torch does.
template <class T, class X>
T reduce_vector(ReduceOp r, const X& x) {
  constexpr bool floating = std::is_floating_point_v<T>;
  switch (r) {
    case ReduceOp::Sum:
      return x.sum();
    case ReduceOp::Prod:
      return x.prod();
    case ReduceOp::Max:
      if constexpr (floating)
        return x.template maxCoeff<Eigen::PropagateNaN>();
      else
        return x.maxCoeff();
    case ReduceOp::Min:
      if constexpr (floating)
        return x.template minCoeff<Eigen::PropagateNaN>();
      else
        return x.minCoeff();
  }
  return T(0);
}

// acc = acc (op) row, element-wise.
template <class T, class A, class R>
void combine(ReduceOp r, A& acc, const R& row) {
  constexpr bool floating = std::is_floating_point_v<T>;
  switch (r) {
    case ReduceOp::Sum:
      acc += row;
      break;
    case ReduceOp::Prod:
      acc *= row;
      break;
    case ReduceOp::Max:
      if constexpr (floating) {
        acc = acc.binaryExpr(row, Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>());
      } else {
        acc = acc.max(row);
      }
      break;
    case ReduceOp::Min:
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
void visit_reduce_type(DType dtype, ReduceOp r, F&& fn) {
  visit_dtype(dtype, [&]<class T>() {
    if constexpr (std::is_same_v<T, std::int64_t>) {
      if (r == ReduceOp::Sum || r == ReduceOp::Prod) {
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
void reduce_dim_into(ReduceOp r, const Tensor& t, Tensor& out, std::int64_t outer, std::int64_t n,
                     std::int64_t inner) {
  const A* src = cptr<A>(t);
  A* dst = ptr<A>(out);
  for (std::int64_t o = 0; o < outer; ++o) {
    const A* block = src + o * n * inner;
    if (inner == 1) {
      dst[o] = reduce_vector<A>(r, CMap<A>(block, n));
      continue;
    }
    Map<A> acc(dst + o * inner, inner);
    if (n == 0) {
      acc.setConstant(r == ReduceOp::Prod ? A(1) : A(0));
      continue;
    }
    acc = CMap<A>(block, inner);
    for (std::int64_t k = 1; k < n; ++k) combine<A>(r, acc, CMap<A>(block + k * inner, inner));
  }
}

}  // namespace

Tensor CpuBackend::sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = reduced_mask(x.dim(), dims, "sum");
  Tensor out = Tensor::empty(reduced_shape(x.shape(), mask, keepdim), x.dtype(), x.device());
  visit_numeric(x.dtype(), true, "sum", [&]<class T>() {
    using W = Wrap<T>;
    W* dst = ptr<W>(out);
    if (out.numel() == 0) return;
    if (x.numel() == 0) {
      std::fill(dst, dst + out.numel(), W(0));
      return;
    }
    const W* src = cptr<W>(x);
    const std::vector<DimGroup> groups = coalesce_groups(x.shape(), mask);
    const bool any_reduced =
        std::any_of(groups.begin(), groups.end(), [](const DimGroup& g) { return g.reduced; });
    if (!any_reduced) {
      std::copy(src, src + x.numel(), dst);
    } else {
      sum_groups<W>(src, dst, groups);
    }
  });
  return out;
}

Tensor CpuBackend::mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = reduced_mask(x.dim(), dims, "mean");
  std::int64_t count = 1;
  for (std::size_t k = 0; k < mask.size(); ++k) {
    if (mask[k]) count *= x.shape()[k];
  }
  Tensor out = sum(x, dims, keepdim);
  visit_numeric(x.dtype(), false, "mean", [&]<class T>() {
    if (count == 0) {
      map<T>(out).setConstant(std::numeric_limits<T>::quiet_NaN());
    } else {
      map<T>(out) /= T(count);
    }
  });
  return out;
}

MaxResult CpuBackend::max_dim(const Tensor& x, std::int64_t dim, bool keepdim) {
  const Split s = split_at(x.shape(), dim, keepdim, "max_dim");
  MaxResult result{Tensor::empty(s.values_shape, x.dtype(), x.device()),
                   Tensor::empty(s.values_shape, DType::Int64, x.device())};
  visit_numeric(x.dtype(), true, "max_dim", [&]<class T>() {
    const T* src = cptr<T>(x);
    T* best = ptr<T>(result.values);
    std::int64_t* index = ptr<std::int64_t>(result.indices);
    for (std::int64_t o = 0; o < s.outer; ++o) {
      const T* block = src + o * s.n * s.inner;
      T* b = best + o * s.inner;
      std::int64_t* idx = index + o * s.inner;
      if (s.inner == 1) {  // a contiguous row: a vectorised max, then the first position of it
        const T m = max_of(CMap<T>(block, s.n));
        const T* at = is_nan(m) ? std::find_if(block, block + s.n, [](T v) { return is_nan(v); })
                                : std::find(block, block + s.n, m);
        *b = *at;
        *idx = at - block;
        continue;
      }
      std::copy(block, block + s.inner, b);
      std::fill(idx, idx + s.inner, 0);
      for (std::int64_t k = 1; k < s.n; ++k) {
        const T* row = block + k * s.inner;
        for (std::int64_t i = 0; i < s.inner; ++i) {
          const T v = row[i];
          if (v > b[i] || (is_nan(v) && !is_nan(b[i]))) {
            b[i] = v;
            idx[i] = k;
          }
        }
      }
    }
  });
  return result;
}

Tensor CpuBackend::max_dim_backward(const Tensor& grad, const Tensor& indices,
                                    const Shape& input_shape, std::int64_t dim, bool keepdim) {
  const char* what = "max_dim_backward";
  const Split s = split_at(input_shape, dim, keepdim, what);
  Tensor out = Tensor::empty(input_shape, grad.dtype(), grad.device());
  visit_numeric(grad.dtype(), false, what, [&]<class T>() {
    map<T>(out).setZero();
    const T* g = cptr<T>(grad);
    const std::int64_t* idx = cptr<std::int64_t>(indices);
    T* dst = ptr<T>(out);
    for (std::int64_t o = 0; o < s.outer; ++o) {
      for (std::int64_t i = 0; i < s.inner; ++i) {
        const std::int64_t at = o * s.inner + i, k = idx[at];
        check_arg(k >= 0 && k < s.n, what, ": index ", k, " is out of range for dim ", dim,
                  " of size ", s.n);
        dst[(o * s.n + k) * s.inner + i] = g[at];
      }
    }
  });
  return out;
}

Tensor CpuBackend::reduce_all(ReduceOp op, const Tensor& x) {
  if (x.dtype() == DType::BFloat16) {
    return reduce_all(op, x.to(DType::Float32)).to(DType::BFloat16);
  }
  Tensor out = Tensor::empty({}, x.dtype(), x.device());
  visit_reduce_type(x.dtype(), op,
                    [&]<class A>() { *ptr<A>(out) = reduce_vector<A>(op, cmap<A>(x)); });
  return out;
}

Tensor CpuBackend::reduce_dim(ReduceOp op, const Tensor& x, std::int64_t dim, bool keepdim) {
  if (x.dtype() == DType::BFloat16) {
    return reduce_dim(op, x.to(DType::Float32), dim, keepdim).to(DType::BFloat16);
  }
  const AxisView v = axis_view(x.shape(), dim, reduce_name(op));
  Tensor out = Tensor::empty(reduced_dim_shape(x.shape(), dim, keepdim), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  visit_reduce_type(x.dtype(), op,
                    [&]<class A>() { reduce_dim_into<A>(op, x, out, v.outer, v.n, v.inner); });
  return out;
}

}  // namespace tensorpar::kernels
