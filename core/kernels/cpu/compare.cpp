// The CPU backend's comparisons and cat. Comparisons of mixed dtypes run in float64; bfloat16
// compares in float32.
#include <cstring>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

bool CpuBackend::equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() == DType::BFloat16) return equal(a.to(DType::Float32), b.to(DType::Float32));
  return visit_dtype(a.dtype(), [&]<class T>() -> bool {
    if constexpr (std::is_same_v<T, BFloat16>) {
      return false;
    } else {
      return (cmap<T>(a) == cmap<T>(b)).all();
    }
  });
}

bool CpuBackend::allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  auto u = cmap<double>(x), v = cmap<double>(y);
  const auto error = (u - v).abs();
  return ((u == v) || (error.isFinite() && error <= atol + rtol * v.abs())).all();
}

double CpuBackend::max_abs_diff(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  return (cmap<double>(x) - cmap<double>(y)).abs().template maxCoeff<Eigen::PropagateNaN>();
}

// Each input contributes a run of size(d) * inner elements to every one of the outer rows.
Tensor CpuBackend::cat(const std::vector<Tensor>& tensors, std::int64_t d, const Shape& shape) {
  const Tensor& first = tensors[0];
  const std::int64_t ndim = first.dim();
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t k = 0; k < d; ++k) outer *= shape[std::size_t(k)];
  for (std::int64_t k = d + 1; k < ndim; ++k) inner *= shape[std::size_t(k)];
  const std::size_t elem = dtype_size(first.dtype());
  const std::size_t out_row = std::size_t(shape[std::size_t(d)] * inner) * elem;
  char* dst = static_cast<char*>(out.device_data());
  std::size_t column = 0;
  for (const Tensor& t : tensors) {
    const std::size_t run = std::size_t(t.shape()[std::size_t(d)] * inner) * elem;
    if (run > 0) {
      const char* src = static_cast<const char*>(t.device_data());
      for (std::int64_t o = 0; o < outer; ++o) {
        std::memcpy(dst + std::size_t(o) * out_row + column, src + std::size_t(o) * run, run);
      }
    }
    column += run;
  }
  return out;
}

}  // namespace tensorpar::kernels
