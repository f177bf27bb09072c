// The CPU backend's permute, as a copy: the output walks in its own row-major order, the input
// by permuted strides. Dims that stay adjacent and in order are coalesced first, so the copy works
// on the fewest dims: when the innermost output dim is also innermost in the input, runs are
// memcpy'd; otherwise the innermost output dim and the input's innermost dim are transposed in
// square tiles.
#include <algorithm>
#include <cstring>

#include "core/kernels/common.h"
#include "core/kernels/cpu/cpu_backend.h"

namespace tensorpar::kernels {

namespace {

// Calls fn(src_offset, dst_offset) for every index of the dims `extent`, row-major, offsets
// stepping by src_stride / dst_stride; once with (0, 0) when there are no dims.
template <class F>
void for_each_index(const std::vector<std::int64_t>& extent,
                    const std::vector<std::int64_t>& src_stride,
                    const std::vector<std::int64_t>& dst_stride, F&& fn) {
  const std::size_t k = extent.size();
  std::int64_t total = 1;
  for (std::int64_t e : extent) total *= e;
  std::vector<std::int64_t> index(k, 0);
  std::int64_t src = 0, dst = 0;
  for (std::int64_t n = 0; n < total; ++n) {
    fn(src, dst);
    for (std::size_t d = k; d-- > 0;) {
      src += src_stride[d];
      dst += dst_stride[d];
      if (++index[d] < extent[d]) break;
      src -= src_stride[d] * extent[d];
      dst -= dst_stride[d] * extent[d];
      index[d] = 0;
    }
  }
}

// Side of the square tiles of the transposing copy. 16 strided lines stay in L1 even when the
// stride is a power of two (which maps them to one cache set); 32 was 1.5x slower there.
constexpr std::int64_t kTile = 16;

// The permuted copy over coalesced dims: extent[i] of the output with input stride src_stride[i].
template <class E>
void permute_copy(const E* src, E* dst, const std::vector<std::int64_t>& extent,
                  const std::vector<std::int64_t>& src_stride) {
  const std::size_t k = extent.size();
  const std::vector<std::int64_t> dst_stride = contiguous_strides(extent);
  const std::size_t last = k - 1;
  if (src_stride[last] == 1) {
    const std::vector<std::int64_t> outer(extent.begin(), extent.end() - 1);
    const std::size_t run = std::size_t(extent[last]) * sizeof(E);
    for_each_index(outer, src_stride, dst_stride,
                   [&](std::int64_t s, std::int64_t d) { std::memcpy(dst + d, src + s, run); });
    return;
  }
  // Tile the output's innermost dim (`last`) against the input's innermost dim (`j`).
  const std::size_t j =
      std::size_t(std::find(src_stride.begin(), src_stride.end(), 1) - src_stride.begin());
  std::vector<std::int64_t> rest, rest_src, rest_dst;
  for (std::size_t d = 0; d < last; ++d) {
    if (d == j) continue;
    rest.push_back(extent[d]);
    rest_src.push_back(src_stride[d]);
    rest_dst.push_back(dst_stride[d]);
  }
  const std::int64_t rows = extent[j], cols = extent[last];
  const std::int64_t row_step = dst_stride[j], col_step = src_stride[last];
  for_each_index(rest, rest_src, rest_dst, [&](std::int64_t s, std::int64_t d) {
    for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
      const std::int64_t r1 = std::min(rows, r0 + kTile);
      for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const std::int64_t c1 = std::min(cols, c0 + kTile);
        for (std::int64_t r = r0; r < r1; ++r) {
          E* out = dst + d + r * row_step;
          const E* in = src + s + r;
          for (std::int64_t c = c0; c < c1; ++c) out[c] = in[c * col_step];
        }
      }
    }
  });
}

}  // namespace

Tensor CpuBackend::permute(const Tensor& x, const std::vector<std::int64_t>& perm) {
  const PermuteWalk walk = permute_walk(x.shape(), perm);
  const std::vector<std::int64_t>& extent = walk.extent;
  const std::vector<std::int64_t>& src_stride = walk.src_stride;
  Tensor out = Tensor::empty(walk.out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (extent.empty()) {  // a single element
    std::memcpy(out.device_data(), x.device_data(), out.nbytes());
    return out;
  }
  const void* src = x.device_data();
  void* dst = out.device_data();
  switch (dtype_size(x.dtype())) {
    case 1:
      permute_copy(static_cast<const std::uint8_t*>(src), static_cast<std::uint8_t*>(dst), extent,
                   src_stride);
      break;
    case 2:
      permute_copy(static_cast<const std::uint16_t*>(src), static_cast<std::uint16_t*>(dst), extent,
                   src_stride);
      break;
    case 4:
      permute_copy(static_cast<const std::uint32_t*>(src), static_cast<std::uint32_t*>(dst), extent,
                   src_stride);
      break;
    case 8:
      permute_copy(static_cast<const std::uint64_t*>(src), static_cast<std::uint64_t*>(dst), extent,
                   src_stride);
      break;
    default:
      throw std::invalid_argument(
          tensorpar::cat("permute: dtype ", dtype_name(x.dtype()), " is not supported"));
  }
  return out;
}

}  // namespace tensorpar::kernels
