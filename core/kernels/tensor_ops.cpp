// Element-wise kernels and cat over contiguous buffers. Each op dispatches on dtype once;
// bfloat16 computes in float32 and rounds back; int64 add/sub/mul wrap modulo 2^64 (computed on
// the unsigned view, so never UB); int64 division truncates toward zero and throws on zero.
#include <cmath>
#include <cstring>
#include <limits>

#include "core/kernels/dense_ops.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar {

namespace {

using namespace kernels;

// int64 arithmetic that may overflow runs on the uint64 view of the same bytes.
template <class T>
using Wrap = std::conditional_t<std::is_same_v<T, std::int64_t>, std::uint64_t, T>;

enum class Op { Add, Sub, Mul, Div };

const char* op_name(Op op, bool in_place) {
  switch (op) {
    case Op::Add:
      return in_place ? "add_" : "add";
    case Op::Sub:
      return in_place ? "sub_" : "sub";
    case Op::Mul:
      return in_place ? "mul_" : "mul";
    case Op::Div:
      return in_place ? "div_" : "div";
  }
  return "?";
}

// out = a op b over equal shapes and dtypes; out may be a itself.
void binary_into(Tensor& out, const Tensor& a, const Tensor& b, Op op, const char* what) {
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, BFloat16>) {
      Tensor r = a.to(DType::Float32);
      binary_into(r, r, b.to(DType::Float32), op, what);
      out.copy_(r);
    } else {
      using W = Wrap<T>;
      if (op == Op::Div && std::is_same_v<T, std::int64_t>) {
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
        case Op::Add:
          o = x + y;
          break;
        case Op::Sub:
          o = x - y;
          break;
        case Op::Mul:
          o = x * y;
          break;
        case Op::Div:
          o = x / y;
          break;
      }
    }
  });
}

// An int64 scalar operand: integral and representable, else std::invalid_argument.
std::int64_t integral_scalar(double s, const char* what) {
  check_arg(s == std::trunc(s) && s >= -9223372036854775808.0 && s < 9223372036854775808.0, what,
            ": scalar ", s, " is not an integer; an int64 tensor keeps its dtype");
  return std::int64_t(s);
}

// out = a op s; out may be a itself.
void scalar_into(Tensor& out, const Tensor& a, double s, Op op, const char* what) {
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, BFloat16>) {
      Tensor r = a.to(DType::Float32);
      scalar_into(r, r, s, op, what);
      out.copy_(r);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      const std::int64_t v = integral_scalar(s, what);
      if (op == Op::Div) {
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
        case Op::Add:
          o = x + w;
          break;
        case Op::Sub:
          o = x - w;
          break;
        case Op::Mul:
          o = x * w;
          break;
        case Op::Div:
          break;
      }
    } else {
      auto x = cmap<T>(a);
      auto o = map<T>(out);
      const T v = T(s);
      switch (op) {
        case Op::Add:
          o = x + v;
          break;
        case Op::Sub:
          o = x - v;
          break;
        case Op::Mul:
          o = x * v;
          break;
        case Op::Div:
          o = x / v;
          break;
      }
    }
  });
}

Tensor binary(const Tensor& a, const Tensor& b, Op op) {
  const char* what = op_name(op, false);
  require_same(a, b, what, true);
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  binary_into(out, a, b, op, what);
  return out;
}

Tensor scalar(const Tensor& a, double s, Op op) {
  const char* what = op_name(op, false);
  require(a, what, "a");
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  scalar_into(out, a, s, op, what);
  return out;
}

}  // namespace

// ---- in-place members ----

Tensor& Tensor::add_(const Tensor& other) {
  require_same(*this, other, "add_", true);
  binary_into(*this, *this, other, Op::Add, "add_");
  return *this;
}

Tensor& Tensor::mul_(double s) {
  require(*this, "mul_", "self");
  scalar_into(*this, *this, s, Op::Mul, "mul_");
  return *this;
}

Tensor& Tensor::div_(double s) {
  require(*this, "div_", "self");
  scalar_into(*this, *this, s, Op::Div, "div_");
  return *this;
}

// ---- element-wise ----

namespace dense {
Tensor add(const Tensor& a, const Tensor& b) { return binary(a, b, Op::Add); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(a, b, Op::Sub); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(a, b, Op::Mul); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(a, b, Op::Div); }
Tensor add(const Tensor& a, double s) { return scalar(a, s, Op::Add); }
Tensor sub(const Tensor& a, double s) { return scalar(a, s, Op::Sub); }
Tensor mul(const Tensor& a, double s) { return scalar(a, s, Op::Mul); }
Tensor div(const Tensor& a, double s) { return scalar(a, s, Op::Div); }
}  // namespace dense

// ---- cat ----

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  check_arg(!tensors.empty(), "cat: expects at least one tensor");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_arg(tensors[i].defined(), "cat: tensors[", i, "] is undefined");
    check_arg(tensors[i].device().type == DeviceType::CPU, "cat: tensors[", i,
              "] must be a CPU tensor, got ", device_str(tensors[i].device()));
  }
  const Tensor& first = tensors[0];
  const std::int64_t ndim = first.dim();
  const std::int64_t d = normalize_dim(dim, ndim, "cat");
  Shape shape = first.shape();
  shape[std::size_t(d)] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_arg(t.dtype() == first.dtype(), "cat: tensors[", i, "] has dtype ", dtype_name(t.dtype()),
              " but tensors[0] has dtype ", dtype_name(first.dtype()));
    bool same = t.dim() == ndim;
    for (std::int64_t k = 0; same && k < ndim; ++k) {
      same = k == d || t.shape()[std::size_t(k)] == first.shape()[std::size_t(k)];
    }
    check_arg(same, "cat: tensors[", i, "] has shape ", shape_text(t.shape()),
              " but tensors[0] has shape ", shape_text(first.shape()), " (only dim ", d,
              " may differ)");
    shape[std::size_t(d)] += t.shape()[std::size_t(d)];
  }
  Tensor out = Tensor::empty(shape, first.dtype());
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t k = 0; k < d; ++k) outer *= shape[std::size_t(k)];
  for (std::int64_t k = d + 1; k < ndim; ++k) inner *= shape[std::size_t(k)];
  const std::size_t elem = dtype_size(first.dtype());
  const std::size_t out_row = std::size_t(shape[std::size_t(d)] * inner) * elem;
  char* dst = static_cast<char*>(out.data_ptr());
  std::size_t column = 0;
  for (const Tensor& t : tensors) {
    const std::size_t run = std::size_t(t.shape()[std::size_t(d)] * inner) * elem;
    if (run > 0) {
      const char* src = static_cast<const char*>(t.data_ptr());
      for (std::int64_t o = 0; o < outer; ++o) {
        std::memcpy(dst + std::size_t(o) * out_row + column, src + std::size_t(o) * run, run);
      }
    }
    column += run;
  }
  return out;
}

}  // namespace tensorpar
