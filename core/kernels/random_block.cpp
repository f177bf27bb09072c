// Random blocks indexed by global position. The block is walked by rows of its last dim: the
// global indices of one row are contiguous, so each row costs one base-index computation.
#include "core/kernels/random_block.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/base/error.h"
#include "core/tensor/philox.h"

namespace tensorpar::kernels {

namespace {

// The block with an empty global_shape resolved to the whole tensor, after the checks.
GlobalBlock resolve(const Shape& local_shape, const GlobalBlock& block, const char* what) {
  for (std::int64_t extent : local_shape) {
    check_arg(extent >= 0, what, ": local shape ", shape_text(local_shape),
              " has a negative extent");
  }
  if (block.global_shape.empty()) {
    const bool at_origin = std::all_of(block.offsets.begin(), block.offsets.end(),
                                       [](std::int64_t o) { return o == 0; });
    check_arg(at_origin && (block.offsets.empty() || block.offsets.size() == local_shape.size()),
              what, ": offsets ", shape_text(block.offsets),
              " given without a global shape (an empty global shape means the whole tensor)");
    GlobalBlock whole{local_shape, Shape()};
    whole.offsets.resize(local_shape.size());
    return whole;
  }
  const GlobalBlock& b = block;
  check_arg(b.global_shape.size() == local_shape.size() && b.offsets.size() == local_shape.size(),
            what, ": local shape ", shape_text(local_shape), ", global shape ",
            shape_text(b.global_shape), " and offsets ", shape_text(b.offsets),
            " must have the same rank");
  for (std::size_t k = 0; k < local_shape.size(); ++k) {
    check_arg(b.offsets[k] >= 0 && b.offsets[k] + local_shape[k] <= b.global_shape[k], what,
              ": the block of shape ", shape_text(local_shape), " at offsets ",
              shape_text(b.offsets), " exceeds global shape ", shape_text(b.global_shape),
              " in dim ", k);
  }
  return b;
}

// Calls draw(dst, n, g) for every row of the block: n elements at dst whose global row-major
// indices are g, g + 1, ..., g + n - 1. A 0-d block is one row of one element at g = 0.
template <class T, class F>
void for_each_row(Tensor& out, const GlobalBlock& b, F&& draw) {
  const Shape& local = out.shape();
  const std::size_t ndim = local.size();
  T* dst = out.data<T>();
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

// The float types, else "<what>: dtype int64 is not supported".
template <class F>
Tensor generate(const Shape& local_shape, DType dtype, const GlobalBlock& block, const char* what,
                F&& draw) {
  const GlobalBlock b = resolve(local_shape, block, what);
  Tensor out = Tensor::empty(local_shape, dtype);
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

Tensor uniform_block(const Shape& local_shape, DType dtype, std::uint64_t seed,
                     std::uint64_t counter_base, const GlobalBlock& block) {
  return generate(local_shape, dtype, block, "uniform_block",
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

Tensor normal_block(const Shape& local_shape, DType dtype, std::uint64_t seed,
                    std::uint64_t counter_base, const GlobalBlock& block) {
  return generate(local_shape, dtype, block, "normal_block",
                  [&]<class T>(T* dst, std::int64_t n, std::uint64_t g) {
                    const std::uint64_t c = counter_base + g;
                    for (std::int64_t j = 0; j < n; ++j) {
                      dst[j] = T(normal_at(seed, c + std::uint64_t(j)));
                    }
                  });
}

Tensor dropout_mask(const Shape& local_shape, DType dtype, double p, std::uint64_t seed,
                    std::uint64_t counter_base, const GlobalBlock& block) {
  check_arg(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  return generate(local_shape, dtype, block, "dropout",
                  [&]<class T>(T* dst, std::int64_t n, std::uint64_t g) {
                    const std::uint64_t c = counter_base + g;
                    for (std::int64_t j = 0; j < n; ++j) {
                      const bool keep = uniform_float_at(seed, c + std::uint64_t(j)) >= p;
                      dst[j] = keep ? T(scale) : T(0);
                    }
                  });
}

}  // namespace tensorpar::kernels
