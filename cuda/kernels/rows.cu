// Row kernels on CUDA, next to their CPU references core/kernels/cpu/softmax.cpp and norm.cpp.
// A tensor is viewed as [outer, n, inner] around the dim (norms: the last dim, inner 1):
//   inner == 1   one block per row; the row's max and sums come from cub::BlockReduce and are
//                shared with the whole block, then every thread writes its strided elements;
//   inner > 1    one thread per (outer, inner) column, walking n (softmax over a non-last dim).
// The arithmetic follows the CPU's order of operations (max subtracted before exp, two-pass
// variance), so results agree to rounding. Softmax of a -inf score is exactly 0; a row of -inf
// only is NaN on both devices. The norms' weight and bias gradients are column sums of the
// reduction kernels (reduce.cu): deterministic, no atomics.
#include <cmath>
#include <cub/block/block_reduce.cuh>

#include "cuda/kernels/cuda_backend.h"
#include "cuda/launch.cuh"

namespace tensorpar::cuda {

namespace {

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

template <class T>
struct MaxOp {
  __device__ T operator()(T a, T b) const { return b > a ? b : a; }
};

// The block's reduction of v with op, returned to every thread of the block.
template <class T, class Op>
__device__ T block_all(T v, Op op) {
  using BlockReduce = cub::BlockReduce<T, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  __shared__ T result;
  const T total = BlockReduce(temp).Reduce(v, op);
  if (threadIdx.x == 0) result = total;
  __syncthreads();
  const T r = result;
  __syncthreads();
  return r;
}

template <class T>
__device__ T block_sum(T v) {
  return block_all(v, SumOp());
}

// ---- softmax ----

template <class T>
__device__ T shifted_exp(T shifted) {  // a -inf score gives exactly 0
  return isinf(shifted) ? T(0) : exp(shifted);
}

template <class T>
__global__ void softmax_rows_kernel(const T* x, T* y, std::int64_t rows, std::int64_t n, bool log) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * n;
    T* out = y + r * n;
    T m = -INFINITY;
    for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) m = MaxOp<T>()(m, in[k]);
    m = block_all(m, MaxOp<T>());
    T s = 0;
    for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      s += log ? exp(in[k] - m) : shifted_exp(in[k] - m);
    }
    s = block_sum(s);
    if (log) {
      const T lse = std::log(s);
      for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) out[k] = (in[k] - m) - lse;
    } else {
      for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        out[k] = shifted_exp(in[k] - m) / s;
      }
    }
  }
}

template <class T>
__global__ void softmax_backward_rows_kernel(const T* g, const T* y, T* dx, std::int64_t rows,
                                             std::int64_t n, bool log) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const std::int64_t base = r * n;
    T s = 0;
    for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      s += log ? g[base + k] : g[base + k] * y[base + k];
    }
    s = block_sum(s);
    for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      const std::int64_t e = base + k;
      dx[e] = log ? g[e] - exp(y[e]) * s : y[e] * (g[e] - s);
    }
  }
}

unsigned row_blocks(std::int64_t rows) { return unsigned(std::min<std::int64_t>(rows, 65535)); }

template <class T>
void softmax_typed(const Tensor& x, Tensor& y, const kernels::AxisView& v, bool log,
                   const char* what, cudaStream_t stream) {
  const T* in = dptr<T>(x);
  T* out = dptr<T>(y);
  if (v.inner == 1) {
    softmax_rows_kernel<T>
        <<<row_blocks(v.outer), kThreads, 0, stream>>>(in, out, v.outer, v.n, log);
    check_launch(what);
    return;
  }
  const std::int64_t n = v.n, inner = v.inner;
  for_each(
      stream, v.outer * v.inner,
      [in, out, n, inner, log] __device__(std::int64_t p) {
        const std::int64_t base = (p / inner) * n * inner + p % inner;
        T m = -INFINITY;
        for (std::int64_t k = 0; k < n; ++k) m = MaxOp<T>()(m, in[base + k * inner]);
        T s = 0;
        for (std::int64_t k = 0; k < n; ++k) {
          const T shifted = in[base + k * inner] - m;
          s += log ? exp(shifted) : shifted_exp(shifted);
        }
        const T lse = log ? std::log(s) : T(0);
        for (std::int64_t k = 0; k < n; ++k) {
          const std::int64_t e = base + k * inner;
          out[e] = log ? (in[e] - m) - lse : shifted_exp(in[e] - m) / s;
        }
      },
      what);
}

template <class T>
void softmax_backward_typed(const Tensor& grad, const Tensor& y, Tensor& dx,
                            const kernels::AxisView& v, bool log, const char* what,
                            cudaStream_t stream) {
  const T* g = dptr<T>(grad);
  const T* out = dptr<T>(y);
  T* in = dptr<T>(dx);
  if (v.inner == 1) {
    softmax_backward_rows_kernel<T>
        <<<row_blocks(v.outer), kThreads, 0, stream>>>(g, out, in, v.outer, v.n, log);
    check_launch(what);
    return;
  }
  const std::int64_t n = v.n, inner = v.inner;
  for_each(
      stream, v.outer * v.inner,
      [g, out, in, n, inner, log] __device__(std::int64_t p) {
        const std::int64_t base = (p / inner) * n * inner + p % inner;
        T s = 0;
        for (std::int64_t k = 0; k < n; ++k) {
          const std::int64_t e = base + k * inner;
          s += log ? g[e] : g[e] * out[e];
        }
        for (std::int64_t k = 0; k < n; ++k) {
          const std::int64_t e = base + k * inner;
          in[e] = log ? g[e] - exp(out[e]) * s : out[e] * (g[e] - s);
        }
      },
      what);
}

Tensor forward(const Tensor& x, std::int64_t dim, const char* what, bool log) {
  const kernels::AxisView v = kernels::axis_view(x.shape(), dim, what);
  require_float(x.dtype(), what);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return y;
  On on(x);
  kernels::visit_float(x.dtype(), what,
                       [&]<class T>() { softmax_typed<T>(x, y, v, log, what, on.stream); });
  return y;
}

Tensor backward(const Tensor& grad, const Tensor& y, std::int64_t dim, const char* what, bool log) {
  const kernels::AxisView v = kernels::axis_view(y.shape(), dim, what);
  require_float(y.dtype(), what);
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (y.numel() == 0) return dx;
  On on(y);
  kernels::visit_float(y.dtype(), what, [&]<class T>() {
    softmax_backward_typed<T>(grad, y, dx, v, log, what, on.stream);
  });
  return dx;
}

// ---- layer norm and RMS norm ----

// Per row of D: (layer) mean = sum / D, var = sum((x - mean)^2) / D; (rms) ms = sum(x^2) / D;
// rstd = 1 / sqrt(var or ms + eps); y = (x - mean) * rstd * weight + bias.
template <class T>
__global__ void norm_rows_kernel(const T* x, const T* weight, const T* bias, T* y, T* mean_out,
                                 T* rstd_out, std::int64_t rows, std::int64_t D, T eps,
                                 bool centre) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * D;
    T* out = y + r * D;
    T mean = 0;
    if (centre) {
      T s = 0;
      for (std::int64_t k = threadIdx.x; k < D; k += blockDim.x) s += in[k];
      mean = block_sum(s) / T(D);
    }
    T q = 0;
    for (std::int64_t k = threadIdx.x; k < D; k += blockDim.x) {
      const T d = in[k] - mean;
      q += d * d;
    }
    const T rstd = T(1) / sqrt(block_sum(q) / T(D) + eps);
    for (std::int64_t k = threadIdx.x; k < D; k += blockDim.x) {
      T v = (in[k] - mean) * rstd;
      if (weight != nullptr) v *= weight[k];
      if (bias != nullptr) v += bias[k];
      out[k] = v;
    }
    if (threadIdx.x == 0) {
      if (mean_out != nullptr) mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = grad * weight (layer; rms drops the
// mean(g) term and the centring).
template <class T>
__global__ void norm_backward_rows_kernel(const T* grad, const T* x, const T* weight, const T* mean,
                                          const T* rstd, T* dx, std::int64_t rows, std::int64_t D) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const std::int64_t base = r * D;
    const T m = mean != nullptr ? mean[r] : T(0), s = rstd[r];
    T sum_g = 0, sum_gx = 0;
    for (std::int64_t k = threadIdx.x; k < D; k += blockDim.x) {
      const T g = weight != nullptr ? grad[base + k] * weight[k] : grad[base + k];
      sum_g += g;
      sum_gx += g * ((x[base + k] - m) * s);
    }
    const T mean_g = mean != nullptr ? block_sum(sum_g) / T(D) : T(0);
    const T mean_gx = block_sum(sum_gx) / T(D);
    for (std::int64_t k = threadIdx.x; k < D; k += blockDim.x) {
      const T g = weight != nullptr ? grad[base + k] * weight[k] : grad[base + k];
      const T xhat = (x[base + k] - m) * s;
      dx[base + k] = s * (g - mean_g - xhat * mean_gx);
    }
  }
}

template <class T>
void norm_typed(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                kernels::NormResult& r, bool centre, const char* what, cudaStream_t stream) {
  const std::int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  if (rows == 0) return;
  norm_rows_kernel<T><<<row_blocks(rows), kThreads, 0, stream>>>(
      dptr<T>(x), weight.defined() ? dptr<T>(weight) : nullptr,
      bias.defined() ? dptr<T>(bias) : nullptr, dptr<T>(r.y),
      r.mean.defined() ? dptr<T>(r.mean) : nullptr, dptr<T>(r.rstd), rows, D, T(eps), centre);
  check_launch(what);
}

template <class T>
void norm_backward_typed(const Tensor& grad, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& rstd, bool need_weight, bool need_bias,
                         kernels::NormGrads& grads, const char* what, cudaStream_t stream) {
  const std::int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  const T* g = dptr<T>(grad);
  const T* in = dptr<T>(x);
  const T* m = mean.defined() ? dptr<T>(mean) : nullptr;
  const T* s = dptr<T>(rstd);
  if (rows > 0) {
    norm_backward_rows_kernel<T><<<row_blocks(rows), kThreads, 0, stream>>>(
        g, in, weight.defined() ? dptr<T>(weight) : nullptr, m, s, dptr<T>(grads.x), rows, D);
    check_launch(what);
  }
  // dweight = sum over rows of grad * xhat, dbias = sum over rows of grad: column sums in the
  // reduction's fixed order (deterministic, no atomics)
  CudaBackend& backend = cuda_backend();
  if (need_bias) grads.bias = backend.sum(reshape_view(grad, {rows, D}), {0}, false);
  if (!need_weight) return;
  Tensor scaled = Tensor::empty({rows, D}, x.dtype(), x.device());
  T* gx = dptr<T>(scaled);
  for_each(
      stream, rows * D,
      [g, in, m, s, gx, D] __device__(std::int64_t e) {
        const std::int64_t r = e / D;
        gx[e] = g[e] * ((in[e] - (m != nullptr ? m[r] : T(0))) * s[r]);
      },
      what);
  grads.weight = backend.sum(scaled, {0}, false);
}

Shape stats_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 1); }

}  // namespace

Tensor CudaBackend::softmax(const Tensor& x, std::int64_t dim) {
  return forward(x, dim, "softmax", false);
}

Tensor CudaBackend::log_softmax(const Tensor& x, std::int64_t dim) {
  return forward(x, dim, "log_softmax", true);
}

Tensor CudaBackend::softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) {
  return backward(grad, y, dim, "softmax_backward", false);
}

Tensor CudaBackend::log_softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) {
  return backward(grad, y, dim, "log_softmax_backward", true);
}

NormResult CudaBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                   double eps) {
  require_float(x.dtype(), "layer_norm");
  NormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()),
               Tensor::empty(stats_shape(x), x.dtype(), x.device()),
               Tensor::empty(stats_shape(x), x.dtype(), x.device())};
  On on(x);
  kernels::visit_float(x.dtype(), "layer_norm", [&]<class T>() {
    norm_typed<T>(x, weight, bias, eps, r, true, "layer_norm", on.stream);
  });
  return r;
}

NormGrads CudaBackend::layer_norm_backward(const Tensor& grad, const Tensor& x,
                                           const Tensor& weight, const Tensor& mean,
                                           const Tensor& rstd, bool need_weight, bool need_bias) {
  require_float(x.dtype(), "layer_norm_backward");
  NormGrads grads{Tensor::empty(x.shape(), x.dtype(), x.device())};
  On on(x);
  kernels::visit_float(x.dtype(), "layer_norm_backward", [&]<class T>() {
    norm_backward_typed<T>(grad, x, weight, mean, rstd, need_weight, need_bias, grads,
                           "layer_norm_backward", on.stream);
  });
  return grads;
}

NormResult CudaBackend::rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  require_float(x.dtype(), "rms_norm");
  NormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor(),
               Tensor::empty(stats_shape(x), x.dtype(), x.device())};
  On on(x);
  kernels::visit_float(x.dtype(), "rms_norm", [&]<class T>() {
    norm_typed<T>(x, weight, Tensor(), eps, r, false, "rms_norm", on.stream);
  });
  return r;
}

NormGrads CudaBackend::rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                         const Tensor& rstd, bool need_weight) {
  require_float(x.dtype(), "rms_norm_backward");
  NormGrads grads{Tensor::empty(x.shape(), x.dtype(), x.device())};
  On on(x);
  kernels::visit_float(x.dtype(), "rms_norm_backward", [&]<class T>() {
    norm_backward_typed<T>(grad, x, weight, Tensor(), rstd, need_weight, false, grads,
                           "rms_norm_backward", on.stream);
  });
  return grads;
}

}  // namespace tensorpar::cuda
