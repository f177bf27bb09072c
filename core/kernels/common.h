#pragma once
// What the kernel files share: argument checks with the messages every device gives, the
// float-dtype dispatch, and the [outer, n, inner] view of a tensor around one dim.
#include <cstdint>
#include <stdexcept>

#include "core/base/error.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// "<what>: <arg> is undefined" / "... must be a CPU tensor, got cuda:0".
inline void require(const Tensor& t, const char* what, const char* arg) {
  check_arg(t.defined(), what, ": ", arg, " is undefined");
  check_arg(t.device().type == DeviceType::CPU, what, ": ", arg, " must be a CPU tensor, got ",
            device_str(t.device()));
}

// Both defined CPU tensors of one shape (and one dtype when same_dtype), arguments named a and b.
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

}  // namespace tensorpar::kernels
