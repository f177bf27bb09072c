#pragma once
// What the .cu files share: the grid of an element-wise launch, bfloat16 on the device (the bits
// and rounding of core's BFloat16), the stream a tensor's kernels run on, and the flag through
// which a kernel reports an error only the data reveals (an integer division by zero).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/kernels/common.h"
#include "core/tensor/tensor.h"
#include "cuda/cuda_error.h"
#include "cuda/stream.h"

namespace tensorpar::cuda {

constexpr int kThreads = 256;

// Blocks for n elements with a grid-stride loop: enough to fill the device, never more than n
// needs.
inline unsigned grid_for(std::int64_t n) {
  return unsigned(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 65536));
}

template <class F>
__global__ void for_each_kernel(std::int64_t n, F f) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    f(i);
  }
}

// f(i) for every i in [0, n) on `stream`: the one element-wise launch every family uses.
template <class F>
void for_each(cudaStream_t stream, std::int64_t n, F f, const char* what) {
  if (n <= 0) return;
  for_each_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, f);
  check_launch(what);
}

// bfloat16 as core stores it (the upper half of a float32), rounding to nearest even and keeping
// NaN quiet exactly as BFloat16::round_from_float does, so device results match the CPU's bits.
struct Bf16 {
  std::uint16_t bits;
};
__device__ inline float to_float(Bf16 b) { return __uint_as_float(std::uint32_t(b.bits) << 16); }
__device__ inline Bf16 to_bf16(float value) {
  const std::uint32_t u = __float_as_uint(value);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0) {
    return Bf16{std::uint16_t((u >> 16) | 0x0040u)};
  }
  return Bf16{std::uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16)};
}

// The device type that holds one element of a dtype: Bf16 for bfloat16.
template <class T>
struct DeviceElemOf {
  using type = T;
};
template <>
struct DeviceElemOf<BFloat16> {
  using type = Bf16;
};
template <class T>
using DeviceElem = typename DeviceElemOf<T>::type;

// The CPU backend's dtype errors: "<what>: dtype bfloat16 is not supported" unless dtype is
// float32 or float64, or int64 where with_int64.
inline void require_float(DType dtype, const char* what, bool with_int64 = false) {
  if (dtype == DType::Float32 || dtype == DType::Float64) return;
  if (with_int64 && dtype == DType::Int64) return;
  kernels::unsupported_dtype(dtype, what);
}

// Where a tensor's kernels run: its device made current, and the rank's stream on it.
struct On {
  explicit On(const Tensor& t) : On(t.device().index) {}
  explicit On(int device) : scope(device), stream(current_stream(device)) {}
  DeviceScope scope;
  cudaStream_t stream;
};

template <class T>
T* dptr(Tensor& t) {
  return reinterpret_cast<T*>(t.device_data());
}
template <class T>
const T* dptr(const Tensor& t) {
  return reinterpret_cast<const T*>(t.device_data());
}

// Two device words a kernel sets when the data is bad, read back once after the launch: a code
// (the largest any thread set wins) and a value to name in the message (the last one stored).
//   ErrorFlag flag(x);
//   for_each(..., [f = flag.get()] __device__ (i) { if (bad) flag_set(f, 1, index[i]); });
//   if (flag.read() == 1) throw ... flag.value() ...;
// Reading synchronises the stream, so only kernels whose inputs can be bad carry one.
class ErrorFlag {
 public:
  explicit ErrorFlag(const Tensor& like);
  unsigned long long* get() { return reinterpret_cast<unsigned long long*>(words_.device_data()); }
  // The largest code any thread set (0: none); the value comes with it.
  std::uint64_t read();
  std::int64_t value() const { return value_; }

 private:
  Tensor words_;
  std::int64_t value_ = 0;
};

__device__ inline void flag_set(unsigned long long* flag, unsigned long long code,
                                std::int64_t value = 0) {
  atomicExch(flag + 1, static_cast<unsigned long long>(value));
  atomicMax(flag, code);
}

}  // namespace tensorpar::cuda
