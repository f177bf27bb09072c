#pragma once
// Internal to core's CPU kernel files (.cpp only): Eigen views over tensor buffers and the
// argument checks every kernel shares. Never include this from a public header: it pulls in
// Eigen, which public headers keep out for compile time.
//
// GCC 12's AVX-512 min/max intrinsics raise a false -Wmaybe-uninitialized when inlined (GCC bug
// 105593); it would break -Werror builds with -march=native.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#include <cstdint>
#include <type_traits>

#include "core/base/error.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// A tensor's elements as a 1-D Eigen array (contiguous, possibly unaligned).
template <class T>
using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using Map = Eigen::Map<Vec<T>>;
template <class T>
using CMap = Eigen::Map<const Vec<T>>;

// T is reinterpreted over the bytes: int64 data may be viewed as uint64 for wrapping arithmetic.
template <class T>
Map<T> map(Tensor& t) {
  return Map<T>(reinterpret_cast<T*>(t.data_ptr()), t.numel());
}
template <class T>
CMap<T> cmap(const Tensor& t) {
  return CMap<T>(reinterpret_cast<const T*>(t.data_ptr()), t.numel());
}

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

}  // namespace tensorpar::kernels
