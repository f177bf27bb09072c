// Reductions on CUDA, next to their CPU reference core/kernels/cpu/reduce.cpp and compare.cpp.
// Everything reduces a tensor seen as [outer, n, inner] along n:
//   one value    cub::DeviceReduce (reduce_all, a sum of everything);
//   inner == 1   one block per row, the threads' partial results combined by cub::BlockReduce;
//   inner > 1    one thread per (outer, inner) column, walking n (reads coalesce across threads);
//                a long sum over few columns in two passes, chunks first;
// a sum over several dims reduces one coalesced group of dims at a time, innermost first, as the
// CPU does. Max and min propagate NaN; max_dim keeps the first position of the maximum (NaN
// wins); int64 sums and products wrap; bfloat16 reduces in float32 and rounds once.
#include <cmath>
#include <cub/block/block_reduce.cuh>
#include <cub/device/device_reduce.cuh>
#include <limits>

#include "core/kernels/common.h"
#include "core/kernels/reduce.h"
#include "core/tensor/device_interface.h"
#include "cuda/kernels/cuda_backend.h"
#include "cuda/launch.cuh"

namespace tensorpar::cuda {

using kernels::ReduceOp;

namespace {

template <class T>
__device__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return isnan(v);
  } else {
    return false;
  }
}

// The reduction's combine and identity; max/min propagate NaN.
template <class A>
struct Combine {
  ReduceOp op;
  __host__ __device__ A identity() const {
    switch (op) {
      case ReduceOp::Sum:
        return A(0);
      case ReduceOp::Prod:
        return A(1);
      case ReduceOp::Max:
        return std::numeric_limits<A>::lowest();
      case ReduceOp::Min:
        return std::numeric_limits<A>::max();
    }
    return A(0);
  }
  __device__ A operator()(A a, A b) const {
    switch (op) {
      case ReduceOp::Sum:
        return a + b;
      case ReduceOp::Prod:
        return a * b;
      case ReduceOp::Max:
        return is_nan(a) ? a : is_nan(b) ? b : (a < b ? b : a);
      case ReduceOp::Min:
        return is_nan(a) ? a : is_nan(b) ? b : (b < a ? b : a);
    }
    return a;
  }
};

// Rows per partial sum down a column: the CPU's chunking, which bounds rounding growth.
constexpr std::int64_t kChunk = 512;

// dst[o] = op over k of src[o, k] (inner == 1): one block per row.
template <class A>
__global__ void reduce_rows_kernel(const A* src, A* dst, std::int64_t outer, std::int64_t n,
                                   Combine<A> c) {
  using BlockReduce = cub::BlockReduce<A, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  for (std::int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    A acc = c.identity();
    for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) acc = c(acc, src[o * n + k]);
    const A total = BlockReduce(temp).Reduce(acc, c);
    if (threadIdx.x == 0) dst[o] = total;
    __syncthreads();  // temp is reused by the next row
  }
}

// The sum of rows [k0, end) of one column, first row first: the CPU's order within a chunk.
template <class A>
__device__ A column_chunk_sum(const A* column, std::int64_t k0, std::int64_t end,
                              std::int64_t inner) {
  A acc = column[k0 * inner];
  for (std::int64_t k = k0 + 1; k < end; ++k) acc += column[k * inner];
  return acc;
}

// dst[o, i] = op over k of src[o, k, i] (inner > 1): one thread per column. Sums add chunks of
// kChunk rows, each summed on its own, in chunk order (the CPU's sum_block).
template <class A>
__global__ void reduce_columns_kernel(const A* src, A* dst, std::int64_t outer, std::int64_t n,
                                      std::int64_t inner, Combine<A> c) {
  const std::int64_t total = outer * inner;
  for (std::int64_t j = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < total;
       j += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t o = j / inner, i = j % inner;
    const A* column = src + o * n * inner + i;
    A acc = c.identity();
    if (c.op == ReduceOp::Sum) {
      for (std::int64_t k0 = 0; k0 < n; k0 += kChunk) {
        const A partial = column_chunk_sum(column, k0, k0 + kChunk < n ? k0 + kChunk : n, inner);
        acc = k0 == 0 ? partial : acc + partial;
      }
    } else {
      for (std::int64_t k = 0; k < n; ++k) acc = c(acc, column[k * inner]);
    }
    dst[j] = acc;
  }
}

// The same column sums in two passes, for few long columns (a bias gradient: 8192 rows, 2048
// columns): first every (chunk, column) pair on its own thread, then each column adds its chunks
// in order. The additions are the one-pass kernel's, in its order.
template <class A>
void sum_columns_in_chunks(const A* src, A* dst, std::int64_t outer, std::int64_t n,
                           std::int64_t inner, Device device, cudaStream_t stream) {
  const std::int64_t columns = outer * inner, chunks = (n + kChunk - 1) / kChunk;
  Tensor partial_tensor =
      Tensor::empty({std::int64_t((chunks * columns * sizeof(A) + 7) / 8)}, DType::Int64, device);
  A* partial = static_cast<A*>(partial_tensor.device_data());
  for_each(
      stream, chunks * columns,
      [src, partial, n, inner, columns] __device__(std::int64_t e) {
        const std::int64_t chunk = e / columns, j = e % columns, o = j / inner, i = j % inner;
        const std::int64_t k0 = chunk * kChunk, end = k0 + kChunk < n ? k0 + kChunk : n;
        partial[e] = column_chunk_sum(src + o * n * inner + i, k0, end, inner);
      },
      "sum");
  for_each(
      stream, columns,
      [partial, dst, chunks, columns] __device__(std::int64_t j) {
        A acc = partial[j];
        for (std::int64_t chunk = 1; chunk < chunks; ++chunk)
          acc = acc + partial[chunk * columns + j];
        dst[j] = acc;
      },
      "sum");
}

// Columns below which a long sum is split into chunks (fewer threads than this leave most of a
// GPU idle).
constexpr std::int64_t kFewColumns = 65536;

template <class A>
void reduce_block(const A* src, A* dst, std::int64_t outer, std::int64_t n, std::int64_t inner,
                  ReduceOp op, Device device, cudaStream_t stream) {
  if (outer * inner == 0) return;
  const Combine<A> c{op};
  if (outer == 1 && inner == 1 && n > 0) {  // everything into one value: CUB's device-wide reduce
    std::size_t bytes = 0;
    check(cub::DeviceReduce::Reduce(nullptr, bytes, src, dst, n, c, c.identity(), stream),
          "cub::DeviceReduce::Reduce");
    Tensor temp = Tensor::empty({std::int64_t(bytes / 8 + 1)}, DType::Int64, device);
    check(
        cub::DeviceReduce::Reduce(temp.device_data(), bytes, src, dst, n, c, c.identity(), stream),
        "cub::DeviceReduce::Reduce");
  } else if (inner == 1) {
    const unsigned blocks = unsigned(std::min<std::int64_t>(outer, 65535));
    reduce_rows_kernel<A><<<blocks, kThreads, 0, stream>>>(src, dst, outer, n, c);
  } else if (op == ReduceOp::Sum && n > kChunk && outer * inner < kFewColumns) {
    sum_columns_in_chunks(src, dst, outer, n, inner, device, stream);
  } else {
    reduce_columns_kernel<A>
        <<<grid_for(outer * inner), kThreads, 0, stream>>>(src, dst, outer, n, inner, c);
  }
  check_launch("reduce");
}

// Reduces one dim of x ([outer, n, inner]) into out with op, for float32/float64/int64 (int64
// sums and products wrap on the unsigned view).
void reduce_axis(const Tensor& x, Tensor& out, std::int64_t outer, std::int64_t n,
                 std::int64_t inner, ReduceOp op, cudaStream_t stream) {
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, BFloat16>) {
      if constexpr (std::is_same_v<T, std::int64_t>) {
        if (op == ReduceOp::Sum || op == ReduceOp::Prod) {
          reduce_block<unsigned long long>(dptr<unsigned long long>(x),
                                           dptr<unsigned long long>(out), outer, n, inner, op,
                                           x.device(), stream);
          return;
        }
      }
      reduce_block<T>(dptr<T>(x), dptr<T>(out), outer, n, inner, op, x.device(), stream);
    }
  });
}

// ---- max and argmax ----

// (value, position) with NaN winning and the first position among equals.
template <class T>
struct Best {
  T value;
  std::int64_t index;
};

template <class T>
struct PickBest {
  __device__ Best<T> operator()(const Best<T>& a, const Best<T>& b) const {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    const bool an = is_nan(a.value), bn = is_nan(b.value);
    if (an != bn) return an ? a : b;
    if (!an && a.value != b.value) return a.value > b.value ? a : b;
    return a.index < b.index ? a : b;
  }
};

template <class T>
__global__ void max_rows_kernel(const T* src, T* values, std::int64_t* indices, std::int64_t outer,
                                std::int64_t n) {
  using BlockReduce = cub::BlockReduce<Best<T>, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  const PickBest<T> pick;
  for (std::int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    Best<T> acc{T(0), -1};
    for (std::int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      acc = pick(acc, Best<T>{src[o * n + k], k});
    }
    const Best<T> best = BlockReduce(temp).Reduce(acc, pick);
    if (threadIdx.x == 0) {
      values[o] = best.value;
      indices[o] = best.index;
    }
    __syncthreads();
  }
}

template <class T>
void max_dim_typed(const Tensor& x, MaxResult& r, const kernels::Split& s, cudaStream_t stream) {
  const T* src = dptr<T>(x);
  T* values = dptr<T>(r.values);
  std::int64_t* indices = dptr<std::int64_t>(r.indices);
  if (s.outer * s.inner == 0) return;
  if (s.inner == 1) {
    max_rows_kernel<T><<<unsigned(std::min<std::int64_t>(s.outer, 65535)), kThreads, 0, stream>>>(
        src, values, indices, s.outer, s.n);
    check_launch("max_dim");
    return;
  }
  const std::int64_t n = s.n, inner = s.inner;
  for_each(
      stream, s.outer * s.inner,
      [src, values, indices, n, inner] __device__(std::int64_t j) {
        const std::int64_t o = j / inner, i = j % inner;
        const T* column = src + o * n * inner + i;
        T best = column[0];
        std::int64_t at = 0;
        for (std::int64_t k = 1; k < n; ++k) {
          const T v = column[k * inner];
          if (v > best || (is_nan(v) && !is_nan(best))) {
            best = v;
            at = k;
          }
        }
        values[j] = best;
        indices[j] = at;
      },
      "max_dim");
}

template <class T>
void max_dim_backward_typed(Tensor& out, const Tensor& grad, const Tensor& indices,
                            const kernels::Split& s, std::int64_t dim, cudaStream_t stream) {
  check(cudaMemsetAsync(out.device_data(), 0, out.nbytes(), stream), "cudaMemsetAsync");
  const T* g = dptr<T>(grad);
  const std::int64_t* idx = dptr<std::int64_t>(indices);
  T* dst = dptr<T>(out);
  const std::int64_t n = s.n, inner = s.inner;
  ErrorFlag flag(grad);
  unsigned long long* f = flag.get();
  for_each(
      stream, s.outer * s.inner,
      [g, idx, dst, n, inner, f] __device__(std::int64_t at) {
        const std::int64_t o = at / inner, i = at % inner, k = idx[at];
        if (k < 0 || k >= n) {
          flag_set(f, 1, k);
          return;
        }
        dst[(o * n + k) * inner + i] = g[at];
      },
      "max_dim_backward");
  check_arg(flag.read() == 0, "max_dim_backward: index ", flag.value(), " is out of range for dim ",
            dim, " of size ", s.n);
}

// ---- comparisons ----

template <class T>
void count_unequal(const Tensor& a, const Tensor& b, unsigned long long* f, cudaStream_t stream) {
  const T* x = dptr<T>(a);
  const T* y = dptr<T>(b);
  for_each(
      stream, a.numel(),
      [x, y, f] __device__(std::int64_t i) {
        if (!(x[i] == y[i])) flag_set(f, 1);
      },
      "equal");
}

}  // namespace

Tensor CudaBackend::sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = kernels::reduced_mask(x.dim(), dims, "sum");
  require_float(x.dtype(), "sum", true);
  Tensor out =
      Tensor::empty(kernels::reduced_shape(x.shape(), mask, keepdim), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  On on(x);
  if (x.numel() == 0) {
    check(cudaMemsetAsync(out.device_data(), 0, out.nbytes(), on.stream), "cudaMemsetAsync");
    return out;
  }
  std::vector<kernels::DimGroup> groups = kernels::coalesce_groups(x.shape(), mask);
  bool any_reduced = false;
  for (const kernels::DimGroup& g : groups) any_reduced = any_reduced || g.reduced;
  if (!any_reduced) {
    device_interface(DeviceType::CUDA).copy(out.device_data(), x.device_data(), x.nbytes());
    return out;
  }
  // innermost reduced group first, through scratch tensors, the last one into out
  Tensor src = x;
  while (true) {
    std::size_t r = 0;
    for (std::size_t g = groups.size(); g-- > 0;) {
      if (groups[g].reduced) {
        r = g;
        break;
      }
    }
    std::int64_t outer = 1, inner = 1;
    bool last = true;
    for (std::size_t g = 0; g < r; ++g) {
      outer *= groups[g].extent;
      last = last && !groups[g].reduced;
    }
    for (std::size_t g = r + 1; g < groups.size(); ++g) inner *= groups[g].extent;
    Tensor dst = last ? out : Tensor::empty({outer * inner}, x.dtype(), x.device());
    reduce_axis(src, dst, outer, groups[r].extent, inner, ReduceOp::Sum, on.stream);
    if (last) return out;
    groups.erase(groups.begin() + std::ptrdiff_t(r));
    src = dst;
  }
}

Tensor CudaBackend::mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = kernels::reduced_mask(x.dim(), dims, "mean");
  require_float(x.dtype(), "mean");
  std::int64_t count = 1;
  for (std::size_t k = 0; k < mask.size(); ++k) {
    if (mask[k]) count *= x.shape()[k];
  }
  Tensor out = sum(x, dims, keepdim);
  if (count == 0) {
    device_interface(DeviceType::CUDA)
        .fill(out.device_data(), out.dtype(), out.numel(),
              std::numeric_limits<double>::quiet_NaN());
  } else {
    binary_scalar_(BinaryOp::Div, out, double(count), "mean");
  }
  return out;
}

MaxResult CudaBackend::max_dim(const Tensor& x, std::int64_t dim, bool keepdim) {
  const kernels::Split s = kernels::split_at(x.shape(), dim, keepdim, "max_dim");
  require_float(x.dtype(), "max_dim", true);
  MaxResult result{Tensor::empty(s.values_shape, x.dtype(), x.device()),
                   Tensor::empty(s.values_shape, DType::Int64, x.device())};
  On on(x);
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, BFloat16>) max_dim_typed<T>(x, result, s, on.stream);
  });
  return result;
}

Tensor CudaBackend::max_dim_backward(const Tensor& grad, const Tensor& indices,
                                     const Shape& input_shape, std::int64_t dim, bool keepdim) {
  const char* what = "max_dim_backward";
  const kernels::Split s = kernels::split_at(input_shape, dim, keepdim, what);
  Tensor out = Tensor::empty(input_shape, grad.dtype(), grad.device());
  On on(grad);
  kernels::visit_float(grad.dtype(), what, [&]<class T>() {
    max_dim_backward_typed<T>(out, grad, indices, s, dim, on.stream);
  });
  return out;
}

Tensor CudaBackend::reduce_all(ReduceOp op, const Tensor& x) {
  if (x.dtype() == DType::BFloat16) {
    return reduce_all(op, x.to(DType::Float32)).to(DType::BFloat16);
  }
  Tensor out = Tensor::empty({}, x.dtype(), x.device());
  On on(x);
  reduce_axis(x, out, 1, x.numel(), 1, op, on.stream);
  return out;
}

Tensor CudaBackend::reduce_dim(ReduceOp op, const Tensor& x, std::int64_t dim, bool keepdim) {
  if (x.dtype() == DType::BFloat16) {
    return reduce_dim(op, x.to(DType::Float32), dim, keepdim).to(DType::BFloat16);
  }
  const kernels::AxisView v = kernels::axis_view(x.shape(), dim, kernels::reduce_name(op));
  Tensor out =
      Tensor::empty(kernels::reduced_dim_shape(x.shape(), dim, keepdim), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  On on(x);
  reduce_axis(x, out, v.outer, v.n, v.inner, op, on.stream);
  return out;
}

bool CudaBackend::equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() == DType::BFloat16) return equal(a.to(DType::Float32), b.to(DType::Float32));
  if (a.numel() == 0) return true;
  On on(a);
  ErrorFlag flag(a);
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, BFloat16>) count_unequal<T>(a, b, flag.get(), on.stream);
  });
  return flag.read() == 0;
}

bool CudaBackend::allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  if (x.numel() == 0) return true;
  On on(x);
  ErrorFlag flag(x);
  const double* u = dptr<double>(x);
  const double* v = dptr<double>(y);
  unsigned long long* f = flag.get();
  for_each(
      on.stream, x.numel(),
      [u, v, f, rtol, atol] __device__(std::int64_t i) {
        const double error = fabs(u[i] - v[i]);
        const bool close = u[i] == v[i] || (isfinite(error) && error <= atol + rtol * fabs(v[i]));
        if (!close) flag_set(f, 1);
      },
      "allclose");
  return flag.read() == 0;
}

double CudaBackend::max_abs_diff(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  Tensor diff = Tensor::empty(x.shape(), DType::Float64, x.device());
  On on(x);
  const double* u = dptr<double>(x);
  const double* v = dptr<double>(y);
  double* d = dptr<double>(diff);
  for_each(
      on.stream, x.numel(), [u, v, d] __device__(std::int64_t i) { d[i] = fabs(u[i] - v[i]); },
      "max_abs_diff");
  return reduce_all(ReduceOp::Max, diff).to(cpu()).item();
}

}  // namespace tensorpar::cuda
