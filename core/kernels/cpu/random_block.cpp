// The CPU backend's random blocks indexed by global position. The block is walked by rows of its
// last dim: the global indices of one row are contiguous, so each row costs one base-index
// computation.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"
#include "core/tensor/philox.h"

namespace tensorpar::kernels {

namespace {

// Calls draw(dst, n, g) for every row of the block: n elements at dst whose global row-major
// indices are g, g + 1, ..., g + n - 1. A 0-d block is one row of one element at g = 0.
template <class T, class F>
void for_each_row(Tensor& out, const GlobalBlock& b, F&& draw) {
  const Shape& local = out.shape();
  const std::size_t ndim = local.size();
  T* dst = ptr<T>(out);
  if (ndim == 0) return draw(dst, 1, 0);
  if (out.numel() == 0) return;
  const std::vector<std::int64_t> stride = contiguous_strides(b.global_shape);
  const std::int64_t width = local[ndim - 1];
  std::vector<std::int64_t> pos(ndim, 0);  // position of the row within the block (last dim 0)
  const std::int64_t rows = out.numel() / width;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t g = 0;
    for (std::size_t k = 0; k < ndim; ++k) g += (b.offsets[k] + pos[k]) * stride[k];
    draw(dst + r * width, width, g);
    for (std::size_t k = ndim - 1; k-- > 0;) {  // odometer over the leading dims
      if (++pos[k] < local[k]) break;
      pos[k] = 0;
    }
  }
}

// The float types, else "<what>: dtype int64 is not supported". b is resolved.
template <class F>
Tensor generate(const Shape& local_shape, DType dtype, Device device, const GlobalBlock& b,
                const char* what, F&& draw) {
  Tensor out = Tensor::empty(local_shape, dtype, device);
  if (dtype == DType::Float32) {
    for_each_row<float>(out, b, [&](float* dst, std::int64_t n, std::int64_t g) {
      draw.template operator()<float>(dst, n, std::uint64_t(g));
    });
  } else if (dtype == DType::Float64) {
    for_each_row<double>(out, b, [&](double* dst, std::int64_t n, std::int64_t g) {
      draw.template operator()<double>(dst, n, std::uint64_t(g));
    });
  } else {
    check_arg(false, what, ": dtype ", dtype_name(dtype), " is not supported");
  }
  return out;
}

}  // namespace

Tensor CpuBackend::uniform_block(const Shape& local_shape, DType dtype, Device device,
                                 std::uint64_t seed, std::uint64_t counter_base,
                                 const GlobalBlock& block) {
  return generate(local_shape, dtype, device, block, "uniform_block",
                  [&]<class T>(T* dst, std::int64_t n, std::uint64_t g) {
                    const std::uint64_t c = counter_base + g;
                    for (std::int64_t j = 0; j < n; ++j) {
                      if constexpr (std::is_same_v<T, float>) {
                        dst[j] = uniform_float_at(seed, c + std::uint64_t(j));
                      } else {
                        dst[j] = uniform_double_at(seed, c + std::uint64_t(j));
                      }
                    }
                  });
}

Tensor CpuBackend::normal_block(const Shape& local_shape, DType dtype, Device device,
                                std::uint64_t seed, std::uint64_t counter_base,
                                const GlobalBlock& block) {
  return generate(local_shape, dtype, device, block, "normal_block",
                  [&]<class T>(T* dst, std::int64_t n, std::uint64_t g) {
                    const std::uint64_t c = counter_base + g;
                    for (std::int64_t j = 0; j < n; ++j) {
                      dst[j] = T(normal_at(seed, c + std::uint64_t(j)));
                    }
                  });
}

Tensor CpuBackend::dropout_mask(const Shape& local_shape, DType dtype, Device device, double p,
                                std::uint64_t seed, std::uint64_t counter_base,
                                const GlobalBlock& block) {
  const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  return generate(local_shape, dtype, device, block, "dropout",
                  [&]<class T>(T* dst, std::int64_t n, std::uint64_t g) {
                    const std::uint64_t c = counter_base + g;
                    for (std::int64_t j = 0; j < n; ++j) {
                      const bool keep = uniform_float_at(seed, c + std::uint64_t(j)) >= p;
                      dst[j] = keep ? T(scale) : T(0);
                    }
                  });
}

}  // namespace tensorpar::kernels
