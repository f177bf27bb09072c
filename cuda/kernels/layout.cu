// Layout kernels on CUDA, next to their CPU references core/kernels/cpu/layout.cpp (permute),
// compare.cpp (cat) and attention.cpp (the causal mask). Pure data movement: the results equal the
// CPU's bit for bit.
#include <limits>

#include "core/tensor/device_interface.h"
#include "cuda/kernels/cuda_backend.h"
#include "cuda/launch.cuh"

namespace tensorpar::cuda {

namespace {

// A permutation as a gather over at most kDims coalesced output dims: output element i reads
// the input at the sum of its indices times the input strides.
constexpr int kDims = 12;
struct Gather {
  int dims = 0;
  std::int64_t extent[kDims];
  std::int64_t src_stride[kDims];
};

template <class W>
void permute_typed(const Tensor& x, Tensor& out, const Gather& g, cudaStream_t stream) {
  const W* src = dptr<W>(x);
  W* dst = dptr<W>(out);
  for_each(
      stream, out.numel(),
      [src, dst, g] __device__(std::int64_t i) {
        std::int64_t rest = i, at = 0;
        for (int k = g.dims - 1; k >= 0; --k) {
          at += (rest % g.extent[k]) * g.src_stride[k];
          rest /= g.extent[k];
        }
        dst[i] = src[at];
      },
      "permute");
}

// Entries j > i of every (Sq, Sk) matrix of t set to value.
template <class T>
void mask_typed(Tensor& t, T value, const char* what, cudaStream_t stream) {
  const std::int64_t sq = t.size(-2), sk = t.size(-1);
  T* data = dptr<T>(t);
  for_each(
      stream, t.numel(),
      [data, sq, sk, value] __device__(std::int64_t e) {
        const std::int64_t r = e / sk, j = e % sk, i = r % sq;
        if (j > i) data[e] = value;
      },
      what);
}

}  // namespace

Tensor CudaBackend::permute(const Tensor& x, const std::vector<std::int64_t>& perm) {
  const kernels::PermuteWalk walk = kernels::permute_walk(x.shape(), perm);
  const std::vector<std::int64_t>& extent = walk.extent;
  const std::vector<std::int64_t>& src_stride = walk.src_stride;
  Tensor out = Tensor::empty(walk.out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  check_arg(extent.size() <= std::size_t(kDims), "permute: ", extent.size(),
            " dims after merging, more than the ", kDims, " the cuda kernel takes");
  Gather g;
  g.dims = int(extent.size());
  for (int k = 0; k < g.dims; ++k) {
    g.extent[k] = extent[std::size_t(k)];
    g.src_stride[k] = src_stride[std::size_t(k)];
  }
  if (g.dims == 0) {  // a single element
    g.dims = 1;
    g.extent[0] = 1;
    g.src_stride[0] = 0;
  }
  On on(x);
  switch (dtype_size(x.dtype())) {
    case 2:
      permute_typed<std::uint16_t>(x, out, g, on.stream);
      break;
    case 4:
      permute_typed<std::uint32_t>(x, out, g, on.stream);
      break;
    case 8:
      permute_typed<std::uint64_t>(x, out, g, on.stream);
      break;
    default:
      throw std::invalid_argument(
          tensorpar::cat("permute: dtype ", dtype_name(x.dtype()), " is not supported"));
  }
  return out;
}

// One box copy per input into its slab of the output along d.
Tensor CudaBackend::cat(const std::vector<Tensor>& tensors, std::int64_t d, const Shape& shape) {
  const Tensor& first = tensors[0];
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  DeviceInterface& memory = device_interface(DeviceType::CUDA);
  Shape dst_start(shape.size(), 0);
  const Shape src_start(shape.size(), 0);
  for (const Tensor& t : tensors) {
    memory.copy_box(out.device_data(), shape, dst_start, t.device_data(), t.shape(), src_start,
                    t.shape(), dtype_size(t.dtype()));
    dst_start[std::size_t(d)] += t.shape()[std::size_t(d)];
  }
  return out;
}

void CudaBackend::causal_mask_(Tensor& scores) {
  require_float(scores.dtype(), "causal_mask_");
  if (scores.numel() == 0) return;
  On on(scores);
  visit_dtype(scores.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      mask_typed<T>(scores, -std::numeric_limits<T>::infinity(), "causal_mask_", on.stream);
    }
  });
}

void CudaBackend::causal_mask_backward_(Tensor& grad) {
  require_float(grad.dtype(), "causal_mask_backward_");
  if (grad.numel() == 0) return;
  On on(grad);
  visit_dtype(grad.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      mask_typed<T>(grad, T(0), "causal_mask_backward_", on.stream);
    }
  });
}

}  // namespace tensorpar::cuda
