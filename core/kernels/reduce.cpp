// Reductions as [outer, n, inner] blocks. The reduced dims are coalesced first: sum over the last
// dim is a row sum of an [outer, n] matrix, over the first dim or over all but the last dim (bias
// gradients) a column sum of an [n, inner] matrix, accumulated row by row with Eigen; any other
// dim set reduces one coalesced group at a time from the innermost outwards.
#include "core/kernels/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

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

// Which dims of an ndim-dim tensor `dims` names (all of them when dims is empty). A 0-d tensor
// accepts dim 0 / -1, as torch does, and has nothing to reduce.
std::vector<bool> reduced_mask(std::int64_t ndim, const std::vector<std::int64_t>& dims,
                               const char* what) {
  std::vector<bool> seen(std::size_t(std::max<std::int64_t>(ndim, 1)), false);
  for (std::int64_t d : dims) {
    const std::int64_t k = normalize_dim(d, std::max<std::int64_t>(ndim, 1), what);
    check_arg(!seen[std::size_t(k)], what, ": dim ", d, " appears twice in dims ",
              shape_text(dims));
    seen[std::size_t(k)] = true;
  }
  std::vector<bool> mask(std::size_t(ndim), dims.empty());
  for (std::int64_t k = 0; k < ndim; ++k) mask[std::size_t(k)] = mask[std::size_t(k)] || seen[std::size_t(k)];
  return mask;
}

Shape reduced_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (!mask[k]) {
      out.push_back(shape[k]);
    } else if (keepdim) {
      out.push_back(1);
    }
  }
  return out;
}

// A run of adjacent dims that are all reduced or all kept, as one extent.
struct Group {
  std::int64_t extent;
  bool reduced;
};

// Coalesced groups, extent-1 dims dropped: [B, S, D] summing {0, 1} -> {B*S reduced, D kept}.
std::vector<Group> coalesce(const Shape& shape, const std::vector<bool>& mask) {
  std::vector<Group> groups;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    if (!groups.empty() && groups.back().reduced == mask[k]) {
      groups.back().extent *= shape[k];
    } else {
      groups.push_back({shape[k], bool(mask[k])});
    }
  }
  return groups;
}

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
void sum_groups(const W* src, W* dst, std::vector<Group> groups) {
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

// A tensor of `shape` viewed as [outer, n, inner] around dim d (a 0-d shape counts as [1]).
struct Split {
  std::int64_t outer = 1, n = 1, inner = 1;
  Shape values_shape;
};

Split split_at(const Shape& shape, std::int64_t dim, bool keepdim, const char* what) {
  const std::int64_t ndim = std::int64_t(shape.size());
  const std::int64_t d = normalize_dim(dim, std::max<std::int64_t>(ndim, 1), what);
  Split s;
  if (ndim == 0) return s;
  for (std::int64_t k = 0; k < ndim; ++k) {
    const std::int64_t e = shape[std::size_t(k)];
    if (k < d) s.outer *= e;
    if (k > d) s.inner *= e;
    if (k != d) {
      s.values_shape.push_back(e);
    } else {
      s.n = e;
      if (keepdim) s.values_shape.push_back(1);
    }
  }
  return s;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  require(x, "sum", "x");
  const std::vector<bool> mask = reduced_mask(x.dim(), dims, "sum");
  Tensor out = Tensor::empty(reduced_shape(x.shape(), mask, keepdim), x.dtype());
  visit_numeric(x.dtype(), true, "sum", [&]<class T>() {
    using W = Wrap<T>;
    W* dst = reinterpret_cast<W*>(out.data_ptr());
    if (out.numel() == 0) return;
    if (x.numel() == 0) {
      std::fill(dst, dst + out.numel(), W(0));
      return;
    }
    const W* src = reinterpret_cast<const W*>(x.data_ptr());
    const std::vector<Group> groups = coalesce(x.shape(), mask);
    const bool any_reduced =
        std::any_of(groups.begin(), groups.end(), [](const Group& g) { return g.reduced; });
    if (!any_reduced) {
      std::copy(src, src + x.numel(), dst);
    } else {
      sum_groups<W>(src, dst, groups);
    }
  });
  return out;
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  require(x, "mean", "x");
  visit_numeric(x.dtype(), false, "mean", []<class T>() {});
  const std::vector<bool> mask = reduced_mask(x.dim(), dims, "mean");
  std::int64_t count = 1;
  for (std::size_t k = 0; k < mask.size(); ++k) {
    if (mask[k]) count *= x.shape()[k];
  }
  Tensor out = kernels::sum(x, dims, keepdim);
  visit_numeric(x.dtype(), false, "mean", [&]<class T>() {
    if (count == 0) {
      map<T>(out).setConstant(std::numeric_limits<T>::quiet_NaN());
    } else {
      map<T>(out) /= T(count);
    }
  });
  return out;
}

MaxResult max_dim(const Tensor& x, std::int64_t dim, bool keepdim) {
  require(x, "max_dim", "x");
  const Split s = split_at(x.shape(), dim, keepdim, "max_dim");
  check_arg(s.n > 0, "max_dim: dim ", dim, " has size 0 (shape ", shape_text(x.shape()),
            "); the maximum of nothing is undefined");
  MaxResult result{Tensor::empty(s.values_shape, x.dtype()),
                   Tensor::empty(s.values_shape, DType::Int64)};
  visit_numeric(x.dtype(), true, "max_dim", [&]<class T>() {
    const T* src = x.data<T>();
    T* best = result.values.data<T>();
    std::int64_t* index = result.indices.data<std::int64_t>();
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

Tensor max_dim_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape,
                        std::int64_t dim, bool keepdim) {
  const char* what = "max_dim_backward";
  require(grad, what, "grad");
  require(indices, what, "indices");
  const Split s = split_at(input_shape, dim, keepdim, what);
  check_arg(grad.shape() == s.values_shape, what, ": grad is ", shape_text(grad.shape()),
            " but the values of max over dim ", dim, " of ", shape_text(input_shape), " are ",
            shape_text(s.values_shape));
  check_arg(indices.shape() == s.values_shape, what, ": indices is ", shape_text(indices.shape()),
            " but grad is ", shape_text(grad.shape()));
  check_arg(indices.dtype() == DType::Int64, what, ": indices must be int64, got ",
            dtype_name(indices.dtype()));
  Tensor out = zeros(input_shape, grad.dtype());
  visit_numeric(grad.dtype(), false, what, [&]<class T>() {
    const T* g = grad.data<T>();
    const std::int64_t* idx = indices.data<std::int64_t>();
    T* dst = out.data<T>();
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

}  // namespace tensorpar::kernels
