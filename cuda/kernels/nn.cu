// The network pieces on CUDA, next to their CPU references core/kernels/cpu/embedding.cpp,
// loss.cpp, vocab_parallel.cpp, random_block.cpp and optim.cpp:
//   embedding           a row gather; the backward sorts (index, position) pairs with
//                       cub::DeviceRadixSort (stable) and sums each index's gradient rows in
//                       position order: no atomics, the CPU's order, bitwise reproducible
//   losses              one thread per position; the sums of the mean in float64, as the CPU
//   vocab-parallel      gather_class, class_weights, scatter_class_add_: one thread per position
//   random blocks       Philox on the device from the header the host uses (core/tensor/philox.h):
//                       uniform draws and dropout masks equal the CPU's bit for bit; normal draws
//                       use log/sqrt/cos, which differ in the last bits on the device, so they are
//                       drawn on the host and moved (as core/tensor/random.cpp does)
//   optimizers          SGD and Adam/AdamW, one fused launch per parameter
// Targets and indices out of range raise the CPU's messages after the launch (ErrorFlag).
#include <cmath>
#include <cub/device/device_radix_sort.cuh>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/optim_step.h"
#include "core/tensor/philox.h"
#include "cuda/kernels/cuda_backend.h"
#include "cuda/launch.cuh"

namespace tensorpar::cuda {

using kernels::AdamCoefficients;
using kernels::AxisView;
using kernels::SgdCoefficients;

namespace {

// ---- embedding ----

template <class T>
void embedding_typed(const Tensor& weight, const Tensor& indices, Tensor& out,
                     std::int64_t row_offset, std::int64_t num_embeddings, unsigned long long* f,
                     cudaStream_t stream) {
  const std::int64_t rows = weight.size(0), D = weight.size(1);
  const std::int64_t* idx = dptr<std::int64_t>(indices);
  const T* table = dptr<T>(weight);
  T* dst = dptr<T>(out);
  for_each(
      stream, out.numel(),
      [idx, table, dst, rows, D, row_offset, num_embeddings, f] __device__(std::int64_t e) {
        const std::int64_t k = e / D, d = e % D, i = idx[k];
        if (i < 0 || i >= num_embeddings) {
          flag_set(f, 1, i);
          return;
        }
        dst[e] = i >= row_offset && i < row_offset + rows ? table[(i - row_offset) * D + d] : T(0);
      },
      "embedding");
}

// Scratch device memory for CUB, from the caching allocator.
Tensor scratch(std::size_t bytes, Device device) {
  return Tensor::empty({std::int64_t((bytes + 7) / 8)}, DType::Int64, device);
}

template <class T>
void embedding_backward_typed(const Tensor& grad, const Tensor& indices, Tensor& out,
                              std::int64_t row_offset, cudaStream_t stream) {
  const std::int64_t n = indices.numel(), D = grad.size(-1), local_rows = out.size(0);
  check(cudaMemsetAsync(out.device_data(), 0, out.nbytes(), stream), "cudaMemsetAsync");
  if (n == 0 || D == 0) return;
  const Device device = grad.device();
  // negative indices are the caller's error
  ErrorFlag flag(grad);
  unsigned long long* f = flag.get();
  const std::int64_t* idx = dptr<std::int64_t>(indices);
  Tensor positions = Tensor::empty({n}, DType::Int64, device);
  std::int64_t* pos = dptr<std::int64_t>(positions);
  for_each(
      stream, n,
      [idx, pos, f] __device__(std::int64_t k) {
        if (idx[k] < 0) flag_set(f, 1, idx[k]);
        pos[k] = k;
      },
      "embedding_backward");
  check_arg(flag.read() == 0, "embedding_backward: index ", flag.value(), " is negative");
  // (index, position) sorted by index, positions ascending within one index (stable)
  Tensor keys = Tensor::empty({n}, DType::Int64, device);
  Tensor order = Tensor::empty({n}, DType::Int64, device);
  std::size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, idx, dptr<std::int64_t>(keys), pos,
                                        dptr<std::int64_t>(order), n, 0, 64, stream),
        "cub::DeviceRadixSort::SortPairs");
  Tensor temp = scratch(temp_bytes, device);
  check(
      cub::DeviceRadixSort::SortPairs(temp.device_data(), temp_bytes, idx, dptr<std::int64_t>(keys),
                                      pos, dptr<std::int64_t>(order), n, 0, 64, stream),
      "cub::DeviceRadixSort::SortPairs");
  // one thread per (first sorted entry of an index, feature): the rows of that index in order
  const std::int64_t* key = dptr<std::int64_t>(keys);
  const std::int64_t* at = dptr<std::int64_t>(order);
  const T* src = dptr<T>(grad);
  T* dst = dptr<T>(out);
  for_each(
      stream, n * D,
      [key, at, src, dst, n, D, row_offset, local_rows] __device__(std::int64_t e) {
        const std::int64_t s = e / D, d = e % D, i = key[s];
        if (s > 0 && key[s - 1] == i) return;  // not the first entry of its index
        if (i < row_offset || i >= row_offset + local_rows) return;
        T acc = T(0);
        for (std::int64_t j = s; j < n && key[j] == i; ++j) acc += src[at[j] * D + d];
        dst[(i - row_offset) * D + d] = acc;
      },
      "embedding_backward");
}

// ---- losses ----

// The CPU's "<what>: target 9 is out of range for 5 classes" when a kernel flagged a target.
void require_targets_in_range(ErrorFlag& flag, const char* what, std::int64_t classes) {
  check_arg(flag.read() == 0, what, ": target ", flag.value(), " is out of range for ", classes,
            " classes");
}

// Per position: loss[p] = -w[t] * lp[t] (0 when ignored) and its weight in float64.
template <class T>
void nll_positions(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                   std::int64_t ignore_index, const AxisView& v, Tensor& per, Tensor& weights,
                   unsigned long long* f, cudaStream_t stream) {
  const T* lp = dptr<T>(log_probs);
  const std::int64_t* t = dptr<std::int64_t>(target);
  const T* w = weight.defined() ? dptr<T>(weight) : nullptr;
  T* loss = dptr<T>(per);
  double* pw = dptr<double>(weights);
  const std::int64_t classes = v.n, inner = v.inner;
  for_each(
      stream, v.positions(),
      [lp, t, w, loss, pw, classes, inner, ignore_index, f] __device__(std::int64_t p) {
        const std::int64_t c = t[p];
        if (c == ignore_index) {
          loss[p] = T(0);
          pw[p] = 0;
          return;
        }
        if (c < 0 || c >= classes) {
          flag_set(f, 1, c);
          return;
        }
        const T wc = w != nullptr ? w[c] : T(1);
        loss[p] = -wc * lp[((p / inner) * classes + c) * inner + p % inner];
        pw[p] = double(wc);
      },
      "nll_loss");
}

template <class T>
void finish_reduction(const Tensor& total, const Tensor& total_weight64, Tensor& loss,
                      Tensor& total_weight, bool mean, cudaStream_t stream) {
  const double* s = dptr<double>(total);
  const double* tw = dptr<double>(total_weight64);
  T* l = loss.defined() ? dptr<T>(loss) : nullptr;
  T* w = dptr<T>(total_weight);
  for_each(
      stream, 1,
      [s, tw, l, w, mean] __device__(std::int64_t) {
        *w = T(*tw);
        if (l != nullptr) *l = T(mean ? *s / *tw : *s);  // 0 / 0 is NaN, as torch gives
      },
      "nll_loss");
}

// The upstream factor: grad[p] (none), grad (sum), grad / total_weight (mean), in T as the CPU.
template <class T>
struct Upstream {
  const T* grad;
  const T* total_weight;
  Reduction reduction;
  __device__ T operator()(std::int64_t p) const {
    if (reduction == Reduction::None) return grad[p];
    T g = grad[0];
    if (reduction == Reduction::Mean) g /= total_weight[0];
    return g;
  }
};

template <class T>
void cross_entropy_backward_typed(const Tensor& grad, const Tensor& log_probs, const Tensor& target,
                                  const Tensor& weight, std::int64_t ignore_index,
                                  Reduction reduction, const Tensor& total_weight, Tensor& dx,
                                  const AxisView& v, unsigned long long* f, cudaStream_t stream) {
  const Upstream<T> up{dptr<T>(grad),
                       reduction == Reduction::Mean ? dptr<T>(total_weight) : nullptr, reduction};
  const T* lp = dptr<T>(log_probs);
  const std::int64_t* t = dptr<std::int64_t>(target);
  const T* w = weight.defined() ? dptr<T>(weight) : nullptr;
  T* out = dptr<T>(dx);
  const std::int64_t classes = v.n, inner = v.inner;
  for_each(
      stream, dx.numel(),
      [up, lp, t, w, out, classes, inner, ignore_index, f] __device__(std::int64_t e) {
        const std::int64_t k = e % inner, c = (e / inner) % classes, n = e / (inner * classes);
        const std::int64_t p = n * inner + k, target_class = t[p];
        T a = T(0);
        if (target_class != ignore_index) {
          if (target_class < 0 || target_class >= classes) {
            flag_set(f, 1, target_class);
            return;
          }
          a = (w != nullptr ? w[target_class] : T(1)) * up(p);
        }
        T value = exp(lp[e]) * a;
        if (c == target_class) value -= a;
        out[e] = value;
      },
      "cross_entropy_backward");
}

template <class T>
void nll_backward_typed(const Tensor& grad, const Tensor& target, const Tensor& weight,
                        std::int64_t ignore_index, Reduction reduction, const Tensor& total_weight,
                        Tensor& dx, const AxisView& v, unsigned long long* f, cudaStream_t stream) {
  check(cudaMemsetAsync(dx.device_data(), 0, dx.nbytes(), stream), "cudaMemsetAsync");
  const Upstream<T> up{dptr<T>(grad),
                       reduction == Reduction::Mean ? dptr<T>(total_weight) : nullptr, reduction};
  const std::int64_t* t = dptr<std::int64_t>(target);
  const T* w = weight.defined() ? dptr<T>(weight) : nullptr;
  T* out = dptr<T>(dx);
  const std::int64_t classes = v.n, inner = v.inner;
  for_each(
      stream, v.positions(),
      [up, t, w, out, classes, inner, ignore_index, f] __device__(std::int64_t p) {
        const std::int64_t c = t[p];
        if (c == ignore_index) return;
        if (c < 0 || c >= classes) {
          flag_set(f, 1, c);
          return;
        }
        out[((p / inner) * classes + c) * inner + p % inner] =
            -(w != nullptr ? w[c] : T(1)) * up(p);
      },
      "nll_loss_backward");
}

// ---- vocab-parallel pieces ----

template <class T>
void gather_class_typed(const Tensor& values, const Tensor& target, Tensor& picked,
                        std::int64_t class_offset, std::int64_t classes, std::int64_t ignore_index,
                        const AxisView& v, unsigned long long* f, cudaStream_t stream) {
  const T* x = dptr<T>(values);
  const std::int64_t* t = dptr<std::int64_t>(target);
  T* out = dptr<T>(picked);
  const std::int64_t n = v.n, inner = v.inner;
  for_each(
      stream, v.positions(),
      [x, t, out, n, inner, class_offset, classes, ignore_index, f] __device__(std::int64_t p) {
        const std::int64_t c = t[p];
        if (c != ignore_index && (c < 0 || c >= classes)) {
          flag_set(f, 1, c);
          return;
        }
        const bool owned = c != ignore_index && c >= class_offset && c < class_offset + n;
        out[p] = owned ? x[((p / inner) * n + (c - class_offset)) * inner + p % inner] : T(0);
      },
      "gather_class");
}

template <class T>
void class_weights_typed(const Tensor& target, const Tensor& weight, Tensor& w,
                         std::int64_t classes, std::int64_t ignore_index, unsigned long long* f,
                         cudaStream_t stream) {
  const std::int64_t* t = dptr<std::int64_t>(target);
  const T* table = weight.defined() ? dptr<T>(weight) : nullptr;
  T* out = dptr<T>(w);
  for_each(
      stream, target.numel(),
      [t, table, out, classes, ignore_index, f] __device__(std::int64_t p) {
        const std::int64_t c = t[p];
        if (c == ignore_index) {
          out[p] = T(0);
          return;
        }
        if (c < 0 || c >= classes) {
          flag_set(f, 1, c);
          return;
        }
        out[p] = table != nullptr ? table[c] : T(1);
      },
      "class_weights");
}

template <class T>
void scatter_class_add_typed(Tensor& out, const Tensor& target, const Tensor& src,
                             std::int64_t class_offset, std::int64_t ignore_index,
                             const AxisView& v, cudaStream_t stream) {
  T* x = dptr<T>(out);
  const std::int64_t* t = dptr<std::int64_t>(target);
  const T* s = dptr<T>(src);
  const std::int64_t n = v.n, inner = v.inner;
  // each position writes its own element: no two positions share one
  for_each(
      stream, v.positions(),
      [x, t, s, n, inner, class_offset, ignore_index] __device__(std::int64_t p) {
        const std::int64_t c = t[p];
        if (c == ignore_index || c < class_offset || c >= class_offset + n) return;
        x[((p / inner) * n + (c - class_offset)) * inner + p % inner] += s[p];
      },
      "scatter_class_add_");
}

// ---- random blocks ----

// The global row-major index of every local element: local index -> position in the block ->
// global index.
constexpr int kDims = 12;
struct BlockIndex {
  int dims = 0;  // 0: the local tensor is the whole tensor
  std::int64_t local[kDims];
  std::int64_t offset[kDims];
  std::int64_t global_stride[kDims];
  __device__ std::uint64_t global(std::int64_t e) const {
    if (dims == 0) return std::uint64_t(e);
    std::int64_t g = 0;
    for (int k = dims - 1; k >= 0; --k) {
      g += (offset[k] + e % local[k]) * global_stride[k];
      e /= local[k];
    }
    return std::uint64_t(g);
  }
};

BlockIndex block_index(const Shape& local_shape, const GlobalBlock& b) {
  BlockIndex bi;
  if (b.global_shape.empty() || local_shape.empty()) return bi;
  check_arg(local_shape.size() <= std::size_t(kDims), "random block: ", local_shape.size(),
            " dims, more than the ", kDims, " the cuda kernel takes");
  const std::vector<std::int64_t> stride = contiguous_strides(b.global_shape);
  bi.dims = int(local_shape.size());
  for (int k = 0; k < bi.dims; ++k) {
    bi.local[k] = local_shape[std::size_t(k)];
    bi.offset[k] = b.offsets.empty() ? 0 : b.offsets[std::size_t(k)];
    bi.global_stride[k] = stride[std::size_t(k)];
  }
  return bi;
}

template <class T>
void uniform_typed(Tensor& out, const BlockIndex& bi, std::uint64_t seed, std::uint64_t base,
                   cudaStream_t stream) {
  T* dst = dptr<T>(out);
  for_each(
      stream, out.numel(),
      [dst, bi, seed, base] __device__(std::int64_t e) {
        const std::uint64_t c = base + bi.global(e);
        if constexpr (std::is_same_v<T, float>) {
          dst[e] = uniform_float_at(seed, c);
        } else {
          dst[e] = uniform_double_at(seed, c);
        }
      },
      "uniform_block");
}

template <class T>
void dropout_typed(Tensor& out, const BlockIndex& bi, double p, std::uint64_t seed,
                   std::uint64_t base, cudaStream_t stream) {
  T* dst = dptr<T>(out);
  const T scale = T(p < 1.0 ? 1.0 / (1.0 - p) : 0.0);
  for_each(
      stream, out.numel(),
      [dst, bi, p, seed, base, scale] __device__(std::int64_t e) {
        const bool keep = uniform_float_at(seed, base + bi.global(e)) >= p;
        dst[e] = keep ? scale : T(0);
      },
      "dropout");
}

// The CPU's "<what>: dtype int64 is not supported" for the random blocks.
void require_random_dtype(DType dtype, const char* what) {
  check_arg(dtype == DType::Float32 || dtype == DType::Float64, what, ": dtype ", dtype_name(dtype),
            " is not supported");
}

// ---- optimizers ----

template <class T>
void sgd_typed(Tensor& param, const Tensor& grad, Tensor& buffer, bool first, const SgdHyper& h,
               cudaStream_t stream) {
  T* p = dptr<T>(param);
  const T* g = dptr<T>(grad);
  T* buf = buffer.defined() ? dptr<T>(buffer) : nullptr;
  const SgdCoefficients<T> c(h);
  for_each(
      stream, param.numel(),
      [p, g, buf, first, c] __device__(std::int64_t i) {
        kernels::sgd_step<T>(p[i], g[i], buf == nullptr ? nullptr : &buf[i], first, c);
      },
      "sgd_update_");
}

template <class T, bool kDecoupled, bool kAmsgrad>
void adam_launch(T* p, const T* gr, T* m, T* v, T* vmax, std::int64_t n,
                 const AdamCoefficients<T>& c, cudaStream_t stream) {
  for_each(
      stream, n,
      [=] __device__(std::int64_t i) {
        kernels::adam_step<T, kDecoupled, kAmsgrad>(p[i], gr[i], m[i], v[i],
                                                    kAmsgrad ? &vmax[i] : nullptr, c);
      },
      "adam_update_");
}

template <class T>
void adam_typed(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                Tensor& max_exp_avg_sq, const AdamHyper& h, cudaStream_t stream) {
  T* p = dptr<T>(param);
  const T* gr = dptr<T>(grad);
  T* m = dptr<T>(exp_avg);
  T* v = dptr<T>(exp_avg_sq);
  T* vmax = max_exp_avg_sq.defined() ? dptr<T>(max_exp_avg_sq) : nullptr;
  const AdamCoefficients<T> c(h);
  const std::int64_t n = param.numel();
  if (h.decoupled) {
    vmax ? adam_launch<T, true, true>(p, gr, m, v, vmax, n, c, stream)
         : adam_launch<T, true, false>(p, gr, m, v, vmax, n, c, stream);
  } else {
    vmax ? adam_launch<T, false, true>(p, gr, m, v, vmax, n, c, stream)
         : adam_launch<T, false, false>(p, gr, m, v, vmax, n, c, stream);
  }
}

}  // namespace

Tensor CudaBackend::embedding(const Tensor& weight, const Tensor& indices, std::int64_t row_offset,
                              std::int64_t num_embeddings) {
  const char* what = "embedding";
  require_float(weight.dtype(), what);
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  Tensor out = Tensor::empty(out_shape, weight.dtype(), weight.device());
  if (out.numel() == 0) return out;
  On on(weight);
  ErrorFlag flag(weight);
  kernels::visit_float(weight.dtype(), what, [&]<class T>() {
    embedding_typed<T>(weight, indices, out, row_offset, num_embeddings, flag.get(), on.stream);
  });
  check_arg(flag.read() == 0, what, ": index ", flag.value(), " is out of range for ",
            num_embeddings, " embeddings");
  return out;
}

Tensor CudaBackend::embedding_backward(const Tensor& grad, const Tensor& indices,
                                       std::int64_t local_rows, std::int64_t row_offset) {
  const char* what = "embedding_backward";
  require_float(grad.dtype(), what);
  Tensor out = Tensor::empty({local_rows, grad.size(-1)}, grad.dtype(), grad.device());
  On on(grad);
  kernels::visit_float(grad.dtype(), what, [&]<class T>() {
    embedding_backward_typed<T>(grad, indices, out, row_offset, on.stream);
  });
  return out;
}

namespace {

CrossEntropyResult nll_forward(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                               std::int64_t ignore_index, Reduction reduction, const AxisView& v,
                               const char* what) {
  const DType dtype = log_probs.dtype();
  require_float(dtype, what);
  const Device device = log_probs.device();
  CrossEntropyResult r{Tensor(), log_probs, Tensor::empty({}, dtype, device)};
  Tensor per = Tensor::empty(target.shape(), dtype, device);
  Tensor weights = Tensor::empty(target.shape(), DType::Float64, device);
  On on(log_probs);
  ErrorFlag flag(log_probs);
  kernels::visit_float(dtype, what, [&]<class T>() {
    nll_positions<T>(log_probs, target, weight, ignore_index, v, per, weights, flag.get(),
                     on.stream);
  });
  require_targets_in_range(flag, what, v.n);
  CudaBackend& self = cuda_backend();
  const Tensor total_weight = self.reduce_all(kernels::ReduceOp::Sum, weights);
  const Tensor total = reduction == Reduction::None
                           ? total_weight
                           : self.reduce_all(kernels::ReduceOp::Sum, per.to(DType::Float64));
  if (reduction != Reduction::None) r.loss = Tensor::empty({}, dtype, device);
  kernels::visit_float(dtype, what, [&]<class T>() {
    finish_reduction<T>(total, total_weight, r.loss, r.total_weight, reduction == Reduction::Mean,
                        on.stream);
  });
  if (reduction == Reduction::None) r.loss = per;
  return r;
}

}  // namespace

CrossEntropyResult CudaBackend::cross_entropy(const Tensor& logits, const Tensor& target,
                                              const Tensor& weight, std::int64_t ignore_index,
                                              Reduction reduction) {
  const Tensor log_probs = log_softmax(logits, logits.dim() == 1 ? 0 : 1);
  return nll_forward(log_probs, target, weight, ignore_index, reduction,
                     kernels::class_view(logits.shape()), "cross_entropy");
}

CrossEntropyResult CudaBackend::nll_loss(const Tensor& log_probs, const Tensor& target,
                                         const Tensor& weight, std::int64_t ignore_index,
                                         Reduction reduction) {
  return nll_forward(log_probs, target, weight, ignore_index, reduction,
                     kernels::class_view(log_probs.shape()), "nll_loss");
}

Tensor CudaBackend::cross_entropy_backward(const Tensor& grad, const Tensor& log_probs,
                                           const Tensor& target, const Tensor& weight,
                                           std::int64_t ignore_index, Reduction reduction,
                                           const Tensor& total_weight) {
  const char* what = "cross_entropy_backward";
  require_float(log_probs.dtype(), what);
  const AxisView v = kernels::class_view(log_probs.shape());
  Tensor dx = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
  if (dx.numel() == 0) return dx;
  On on(log_probs);
  ErrorFlag flag(log_probs);
  kernels::visit_float(log_probs.dtype(), what, [&]<class T>() {
    cross_entropy_backward_typed<T>(grad, log_probs, target, weight, ignore_index, reduction,
                                    total_weight, dx, v, flag.get(), on.stream);
  });
  require_targets_in_range(flag, what, v.n);
  return dx;
}

Tensor CudaBackend::nll_loss_backward(const Tensor& grad, const Tensor& target,
                                      const Tensor& weight, std::int64_t ignore_index,
                                      Reduction reduction, const Tensor& total_weight,
                                      const Shape& input_shape, DType dtype) {
  const char* what = "nll_loss_backward";
  require_float(dtype, what);
  const AxisView v = kernels::class_view(input_shape);
  Tensor dx = Tensor::empty(input_shape, dtype, target.device());
  On on(target);
  ErrorFlag flag(target);
  kernels::visit_float(dtype, what, [&]<class T>() {
    nll_backward_typed<T>(grad, target, weight, ignore_index, reduction, total_weight, dx, v,
                          flag.get(), on.stream);
  });
  require_targets_in_range(flag, what, v.n);
  return dx;
}

Tensor CudaBackend::gather_class(const Tensor& values, const Tensor& target,
                                 std::int64_t class_offset, std::int64_t classes,
                                 std::int64_t ignore_index, const char* what) {
  require_float(values.dtype(), what);
  const AxisView v = kernels::sharded_class_view(values.shape());
  Tensor picked = Tensor::empty(target.shape(), values.dtype(), values.device());
  if (picked.numel() == 0) return picked;
  On on(values);
  ErrorFlag flag(values);
  kernels::visit_float(values.dtype(), what, [&]<class T>() {
    gather_class_typed<T>(values, target, picked, class_offset, classes, ignore_index, v,
                          flag.get(), on.stream);
  });
  require_targets_in_range(flag, what, classes);
  return picked;
}

Tensor CudaBackend::class_weights(const Tensor& target, const Tensor& weight, std::int64_t classes,
                                  std::int64_t ignore_index, DType dtype, const char* what) {
  require_float(dtype, what);
  Tensor w = Tensor::empty(target.shape(), dtype, target.device());
  if (w.numel() == 0) return w;
  On on(target);
  ErrorFlag flag(target);
  kernels::visit_float(dtype, what, [&]<class T>() {
    class_weights_typed<T>(target, weight, w, classes, ignore_index, flag.get(), on.stream);
  });
  require_targets_in_range(flag, what, classes);
  return w;
}

void CudaBackend::scatter_class_add_(Tensor& out, const Tensor& target, const Tensor& src,
                                     std::int64_t class_offset, std::int64_t ignore_index) {
  const char* what = "scatter_class_add_";
  require_float(out.dtype(), what);
  const AxisView v = kernels::sharded_class_view(out.shape());
  if (v.positions() == 0) return;
  On on(out);
  kernels::visit_float(out.dtype(), what, [&]<class T>() {
    scatter_class_add_typed<T>(out, target, src, class_offset, ignore_index, v, on.stream);
  });
}

Tensor CudaBackend::uniform_block(const Shape& local_shape, DType dtype, Device device,
                                  std::uint64_t seed, std::uint64_t counter_base,
                                  const GlobalBlock& block) {
  require_random_dtype(dtype, "uniform_block");
  Tensor out = Tensor::empty(local_shape, dtype, device);
  const BlockIndex bi = block_index(local_shape, block);
  On on(device.index);
  kernels::visit_float(dtype, "uniform_block", [&]<class T>() {
    uniform_typed<T>(out, bi, seed, counter_base, on.stream);
  });
  return out;
}

Tensor CudaBackend::normal_block(const Shape& local_shape, DType dtype, Device device,
                                 std::uint64_t seed, std::uint64_t counter_base,
                                 const GlobalBlock& block) {
  return kernels::cpu_backend()
      .normal_block(local_shape, dtype, cpu(), seed, counter_base, block)
      .to(device);
}

Tensor CudaBackend::dropout_mask(const Shape& local_shape, DType dtype, Device device, double p,
                                 std::uint64_t seed, std::uint64_t counter_base,
                                 const GlobalBlock& block) {
  require_random_dtype(dtype, "dropout");
  Tensor out = Tensor::empty(local_shape, dtype, device);
  const BlockIndex bi = block_index(local_shape, block);
  On on(device.index);
  kernels::visit_float(dtype, "dropout", [&]<class T>() {
    dropout_typed<T>(out, bi, p, seed, counter_base, on.stream);
  });
  return out;
}

void CudaBackend::sgd_update_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer,
                              bool first, const SgdHyper& h) {
  require_float(param.dtype(), "sgd_update_");
  On on(param);
  kernels::visit_float(param.dtype(), "sgd_update_", [&]<class T>() {
    sgd_typed<T>(param, grad, momentum_buffer, first, h, on.stream);
  });
}

void CudaBackend::adam_update_(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                               Tensor& exp_avg_sq, Tensor& max_exp_avg_sq, const AdamHyper& h) {
  require_float(param.dtype(), "adam_update_");
  On on(param);
  kernels::visit_float(param.dtype(), "adam_update_", [&]<class T>() {
    adam_typed<T>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, h, on.stream);
  });
}

}  // namespace tensorpar::cuda
