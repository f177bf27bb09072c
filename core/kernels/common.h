#pragma once
// What the kernel files share: argument checks with the messages every device gives, the
// float-dtype dispatch, and the [outer, n, inner] view of a tensor around one dim.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/base/error.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// "<what>: <arg> is undefined". Devices are the dispatch's business (backend.h).
inline void require(const Tensor& t, const char* what, const char* arg) {
  check_arg(t.defined(), what, ": ", arg, " is undefined");
}

// Both defined tensors of one shape (and one dtype when same_dtype), arguments named a and b.
inline void require_same(const Tensor& a, const Tensor& b, const char* what, bool same_dtype) {
  require(a, what, "a");
  require(b, what, "b");
  check_arg(a.shape() == b.shape(), what, ": shape mismatch ", shape_str(a.shape()), " vs ",
            shape_str(b.shape()));
  check_arg(!same_dtype || a.dtype() == b.dtype(), what, ": dtype mismatch ", dtype_name(a.dtype()),
            " vs ", dtype_name(b.dtype()));
}

// "<what>: dtypes differ: grad is float32, x is float64".
inline void require_same_dtype(const Tensor& a, const Tensor& b, const char* what,
                               const char* a_name, const char* b_name) {
  check_arg(a.dtype() == b.dtype(), what, ": dtypes differ: ", a_name, " is ",
            dtype_name(a.dtype()), ", ", b_name, " is ", dtype_name(b.dtype()));
}

// "<what>: dtype bfloat16 is not supported".
[[noreturn]] inline void unsupported_dtype(DType dtype, const char* what) {
  throw std::invalid_argument(cat(what, ": dtype ", dtype_name(dtype), " is not supported"));
}

// An int64 scalar operand: integral and representable, else
// "<what>: scalar 0.5 is not an integer; an int64 tensor keeps its dtype".
inline std::int64_t integral_scalar(double s, const char* what) {
  check_arg(s == std::trunc(s) && s >= -9223372036854775808.0 && s < 9223372036854775808.0, what,
            ": scalar ", s, " is not an integer; an int64 tensor keeps its dtype");
  return std::int64_t(s);
}

// Calls fn.template operator()<T>() with T = float or double; any other dtype throws
// "<what>: dtype bfloat16 is not supported".
template <class F>
decltype(auto) visit_float(DType dtype, const char* what, F&& fn) {
  switch (dtype) {
    case DType::Float32:
      return fn.template operator()<float>();
    case DType::Float64:
      return fn.template operator()<double>();
    default:
      unsupported_dtype(dtype, what);
  }
}

// A row-major shape seen as [outer, n, inner] around one dim: the dims before it, the dim itself
// and the dims after it. Softmax runs along n; a loss reads n as the classes. Example: (8, 16, 12)
// around dim 1 is outer 8, n 16, inner 12; position p = o * inner + k counts the outer x inner
// places a vector along the dim starts at, and at(p, t) is the element index of entry t there.
struct AxisView {
  std::int64_t outer = 1, n = 1, inner = 1;
  std::int64_t positions() const { return outer * inner; }
  std::int64_t at(std::int64_t p, std::int64_t t) const {
    return ((p / inner) * n + t) * inner + p % inner;
  }
};

// The view around `dim` (negative counts from the end); a 0-d shape is [1, 1, 1] (dim 0 or -1).
inline AxisView axis_view(const Shape& shape, std::int64_t dim, const char* what) {
  const auto ndim = std::int64_t(shape.size());
  const std::int64_t d = normalize_dim(dim, ndim == 0 ? 1 : ndim, what);
  AxisView v;
  if (ndim == 0) return v;
  v.n = shape[std::size_t(d)];
  for (std::int64_t k = 0; k < d; ++k) v.outer *= shape[std::size_t(k)];
  for (std::int64_t k = d + 1; k < ndim; ++k) v.inner *= shape[std::size_t(k)];
  return v;
}

// Product of all extents but the last: the rows of a (..., features) tensor.
inline std::int64_t leading_rows(const Shape& shape) {
  std::int64_t rows = 1;
  for (std::size_t k = 0; k + 1 < shape.size(); ++k) rows *= shape[k];
  return rows;
}

// Every dim but the last, {0, 1, ..., ndim - 2}: the dims a bias gradient sums over.
inline std::vector<std::int64_t> leading_dims(std::int64_t ndim) {
  std::vector<std::int64_t> dims(std::size_t(ndim > 1 ? ndim - 1 : 0));
  for (std::size_t k = 0; k < dims.size(); ++k) dims[k] = std::int64_t(k);
  return dims;
}

// A loss input (N, C, d1, ...) as [N, C, inner] with inner = d1 * ...; a 1-D input (C) is one
// position. Target position p = n * inner + k reads class t at at(p, t).
inline AxisView class_view(const Shape& input_shape) {
  AxisView v;
  v.n = input_shape[input_shape.size() == 1 ? 0 : 1];
  if (input_shape.size() > 1) {
    v.outer = input_shape[0];
    v.inner = numel(Shape(input_shape.begin() + 2, input_shape.end()));
  }
  return v;
}

// The [N, n_local, inner] view of a checked class-sharded shape (vocab_parallel.h).
inline AxisView sharded_class_view(const Shape& shape) {
  return axis_view(shape, shape.size() == 1 ? 0 : 1, "vocab_parallel");
}

// ---- the product shape of matmul (matmul.h), for arguments already checked ----
// op(a) is m x k and op(b) is k x n, each batched over leading dims or 2-D (shared by every
// batch); the product holds `batches` matrices of m x n under the batch dims of whichever is
// batched. Example: a [5, 2, 3], b [4, 3] with trans_b: m 2, k 3, n 4, batches 5, shape [5, 2, 4].
struct MatmulDims {
  std::int64_t m = 0, k = 0, n = 0, batches = 1;
  Shape shape;
};

inline MatmulDims matmul_dims(const Shape& as, const Shape& bs, bool trans_a, bool trans_b) {
  MatmulDims d;
  d.m = trans_a ? as.end()[-1] : as.end()[-2];
  d.k = trans_a ? as.end()[-2] : as.end()[-1];
  d.n = trans_b ? bs.end()[-2] : bs.end()[-1];
  d.shape = as.size() > 2 ? Shape(as.begin(), as.end() - 2) : Shape(bs.begin(), bs.end() - 2);
  d.batches = numel(d.shape);
  d.shape.push_back(d.m);
  d.shape.push_back(d.n);
  return d;
}

// The shape a reduction along one (normalised) dim leaves: keepdim keeps it as extent 1.
inline Shape reduced_dim_shape(const Shape& shape, std::int64_t dim, bool keepdim) {
  Shape out = shape;
  if (keepdim) {
    out[std::size_t(dim)] = 1;
  } else {
    out.erase(out.begin() + dim);
  }
  return out;
}

// ---- reductions: the dims a reduction names and the shape it leaves ----

// Which dims of an ndim-dim tensor `dims` names (all of them when dims is empty). A 0-d tensor
// accepts dim 0 / -1, as torch does, and has nothing to reduce.
inline std::vector<bool> reduced_mask(std::int64_t ndim, const std::vector<std::int64_t>& dims,
                                      const char* what) {
  std::vector<bool> seen(std::size_t(std::max<std::int64_t>(ndim, 1)), false);
  for (std::int64_t d : dims) {
    const std::int64_t k = normalize_dim(d, std::max<std::int64_t>(ndim, 1), what);
    check_arg(!seen[std::size_t(k)], what, ": dim ", d, " appears twice in dims ",
              shape_text(dims));
    seen[std::size_t(k)] = true;
  }
  std::vector<bool> mask(std::size_t(ndim), dims.empty());
  for (std::int64_t k = 0; k < ndim; ++k)
    mask[std::size_t(k)] = mask[std::size_t(k)] || seen[std::size_t(k)];
  return mask;
}

inline Shape reduced_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim) {
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
struct DimGroup {
  std::int64_t extent;
  bool reduced;
};

// Coalesced groups, extent-1 dims dropped: [B, S, D] summing {0, 1} -> {B*S reduced, D kept}.
inline std::vector<DimGroup> coalesce_groups(const Shape& shape, const std::vector<bool>& mask) {
  std::vector<DimGroup> groups;
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

// ---- permute: a copy over the fewest dims ----

// The output shape of permuting `shape` by `perm`, and the copy as a walk over the output's
// dims with extent 1 dropped and neighbours that stay adjacent and in order merged: extent[i] of
// the output steps the input by src_stride[i]. Example: [2, 3, 4] by (0, 2, 1) walks extents
// [2, 4, 3] with input strides [12, 1, 4]; by (0, 1, 2) it is one run of 24 with stride 1.
struct PermuteWalk {
  Shape out_shape;
  std::vector<std::int64_t> extent, src_stride;
};

inline PermuteWalk permute_walk(const Shape& shape, const std::vector<std::int64_t>& perm) {
  const std::vector<std::int64_t> strides = contiguous_strides(shape);
  PermuteWalk w;
  w.out_shape.resize(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) {
    const std::int64_t e = shape[std::size_t(perm[i])], s = strides[std::size_t(perm[i])];
    w.out_shape[i] = e;
    if (e == 1) continue;
    if (!w.extent.empty() && w.src_stride.back() == s * e) {
      w.extent.back() *= e;
      w.src_stride.back() = s;
    } else {
      w.extent.push_back(e);
      w.src_stride.push_back(s);
    }
  }
  return w;
}

// A tensor of `shape` viewed as [outer, n, inner] around dim d (a 0-d shape counts as [1]).
struct Split {
  std::int64_t outer = 1, n = 1, inner = 1;
  Shape values_shape;
};

inline Split split_at(const Shape& shape, std::int64_t dim, bool keepdim, const char* what) {
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

}  // namespace tensorpar::kernels
