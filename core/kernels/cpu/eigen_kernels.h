#pragma once
// Internal to the CPU backend's files (.cpp only): Eigen views over tensor buffers and the
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

#include "core/kernels/common.h"

namespace tensorpar::kernels {

// A tensor's elements as a 1-D Eigen array (contiguous, possibly unaligned).
template <class T>
using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using Map = Eigen::Map<Vec<T>>;
template <class T>
using CMap = Eigen::Map<const Vec<T>>;
// A row-major 2-D view of a buffer (rows x columns), e.g. the (n, inner) slab of an AxisView.
template <class T>
using Block = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using CBlock = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// A tensor's elements as T*: the CPU backend serves every device whose memory the host can
// address, so it reads device_data(), never data_ptr() (which only CPU tensors allow). T is
// reinterpreted over the bytes: int64 data may be viewed as uint64 for wrapping arithmetic.
template <class T>
T* ptr(Tensor& t) {
  return reinterpret_cast<T*>(t.device_data());
}
template <class T>
const T* ptr(const Tensor& t) {
  return reinterpret_cast<const T*>(t.device_data());
}
template <class T>
const T* cptr(const Tensor& t) {
  return reinterpret_cast<const T*>(t.device_data());
}

template <class T>
Map<T> map(Tensor& t) {
  return Map<T>(ptr<T>(t), t.numel());
}
template <class T>
CMap<T> cmap(const Tensor& t) {
  return CMap<T>(cptr<T>(t), t.numel());
}

}  // namespace tensorpar::kernels
