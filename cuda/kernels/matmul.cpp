// Matrix products on CUDA through cuBLASLt, next to their CPU reference
// core/kernels/cpu/matmul.cpp.
//
// Row-major products on a column-major library: C = op(A) op(B) (m x n, row-major) is, read
// column-major, C^T = op(B)^T op(A)^T (n x m), so the call passes B's buffer first, A's second,
// and swaps m and n; no data moves. Batches are strided (a 2-D operand shared by every batch has
// stride 0; a shared b with an untransposed a flattens a's batches into rows, as the CPU does).
// linear adds its bias in the GEMM's epilogue; the bias gradient is one column-sum reduction.
//
// Precision: float64 in float64; float32 in float32 (TF32 tensor cores only when
// CudaBackend::set_allow_tf32(true)); bfloat16 operands with float32 accumulation.
#include <cublasLt.h>

#include <array>
#include <mutex>
#include <vector>

#include "core/base/error.h"
#include "core/base/lru_cache.h"
#include "core/kernels/common.h"
#include "cuda/cuda_error.h"
#include "cuda/kernels/cuda_backend.h"
#include "cuda/stream.h"

namespace tensorpar::cuda {

namespace {

constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;
constexpr int kMaxDevices = 64;

// One cuBLASLt handle per device, made on first use (a handle carries no stream; Lt calls on it
// may come from several threads).
cublasLtHandle_t handle(int device) {
  static std::array<cublasLtHandle_t, kMaxDevices> handles{};
  static std::mutex mutex;
  check_arg(device >= 0 && device < kMaxDevices, "cuda matmul: device index ", device);
  std::lock_guard lock(mutex);
  if (handles[std::size_t(device)] == nullptr) {
    check(cublasLtCreate(&handles[std::size_t(device)]), "cublasLtCreate");
  }
  return handles[std::size_t(device)];
}

// The largest power of two (up to 256) dividing the address: what the algorithm may assume.
std::uint32_t alignment(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

// The algorithm cuBLASLt's heuristic chose for one problem, kept: the heuristic costs tens of
// microseconds, a training step asks for the same few shapes every iteration.
using AlgoKey = std::array<std::int64_t, 14>;
struct AlgoKeyHash {
  std::size_t operator()(const AlgoKey& key) const {
    std::size_t h = 1469598103934665603ull;
    for (std::int64_t v : key) h = (h ^ std::size_t(v)) * 1099511628211ull;
    return h;
  }
};

class AlgoCache {
 public:
  bool find(const AlgoKey& key, cublasLtMatmulAlgo_t& algo) {
    std::lock_guard lock(mutex_);
    const cublasLtMatmulAlgo_t* found = cache_.find(key);
    if (found != nullptr) algo = *found;
    return found != nullptr;
  }
  void insert(const AlgoKey& key, const cublasLtMatmulAlgo_t& algo) {
    std::lock_guard lock(mutex_);
    if (cache_.find(key) == nullptr) cache_.insert(key, algo);
  }

 private:
  std::mutex mutex_;
  LruCache<AlgoKey, cublasLtMatmulAlgo_t, AlgoKeyHash> cache_{1024};
};

AlgoCache& algo_cache() {
  static AlgoCache* cache = new AlgoCache;  // used until exit
  return *cache;
}

// Owners of the descriptors of one call.
struct Descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  ~Descriptors() {
    if (preference != nullptr) cublasLtMatmulPreferenceDestroy(preference);
    if (c != nullptr) cublasLtMatrixLayoutDestroy(c);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (op != nullptr) cublasLtMatmulDescDestroy(op);
  }
};

template <class V>
void set(cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attribute, V value) {
  check(cublasLtMatrixLayoutSetAttribute(layout, attribute, &value, sizeof value),
        "cublasLtMatrixLayoutSetAttribute");
}

// A column-major rows x cols matrix with leading dimension ld, `batches` of them `stride` apart.
cublasLtMatrixLayout_t layout(cudaDataType_t type, std::int64_t rows, std::int64_t cols,
                              std::int64_t ld, std::int64_t batches, std::int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  check(cublasLtMatrixLayoutCreate(&l, type, std::uint64_t(rows), std::uint64_t(cols), ld),
        "cublasLtMatrixLayoutCreate");
  if (batches > 1) {
    set(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, std::int32_t(batches));
    set(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, stride);
  }
  return l;
}

struct Gemm {
  const void* a;  // row-major op(A) is m x k: A is m x k, or k x m when ta
  bool ta;
  const void* b;  // row-major op(B) is k x n: B is k x n, or n x k when tb
  bool tb;
  void* c;  // row-major m x n
  std::int64_t m, n, k;
  std::int64_t batches = 1, stride_a = 0, stride_b = 0;
  const void* bias = nullptr;  // n values added to every row of C
};

// C = op(A) op(B) (+ bias) for every batch, on the rank's stream of `device`.
void gemm(const Gemm& g, DType dtype, int device, bool allow_tf32) {
  cudaDataType_t type;
  cublasComputeType_t compute;
  cudaDataType_t scale;
  switch (dtype) {
    case DType::Float32:
      type = CUDA_R_32F;
      compute = allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      scale = CUDA_R_32F;
      break;
    case DType::Float64:
      type = CUDA_R_64F;
      compute = CUBLAS_COMPUTE_64F;
      scale = CUDA_R_64F;
      break;
    case DType::BFloat16:
      type = CUDA_R_16BF;
      compute = CUBLAS_COMPUTE_32F;
      scale = CUDA_R_32F;
      break;
    default:
      kernels::unsupported_dtype(dtype, "matmul");
  }
  DeviceScope on(device);
  const cudaStream_t stream = current_stream(device);
  Descriptors d;
  check(cublasLtMatmulDescCreate(&d.op, compute, scale), "cublasLtMatmulDescCreate");
  // column-major: D (n x m) = op1(B-buffer) (n x k) * op2(A-buffer) (k x m)
  const cublasOperation_t op1 = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op2 = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  check(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &op1, sizeof op1),
        "cublasLtMatmulDescSetAttribute");
  check(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &op2, sizeof op2),
        "cublasLtMatmulDescSetAttribute");
  if (g.bias != nullptr) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    check(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                         sizeof epilogue),
          "cublasLtMatmulDescSetAttribute");
    check(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                         sizeof g.bias),
          "cublasLtMatmulDescSetAttribute");
  }
  // B-buffer as stored, column-major: (n x k) ld n, or (k x n) ld k when tb
  d.a = g.tb ? layout(type, g.k, g.n, g.k, g.batches, g.stride_b)
             : layout(type, g.n, g.k, g.n, g.batches, g.stride_b);
  // A-buffer: (k x m) ld k, or (m x k) ld m when ta
  d.b = g.ta ? layout(type, g.m, g.k, g.m, g.batches, g.stride_a)
             : layout(type, g.k, g.m, g.k, g.batches, g.stride_a);
  d.c = layout(type, g.n, g.m, g.n, g.batches, g.m * g.n);

  check(cublasLtMatmulPreferenceCreate(&d.preference), "cublasLtMatmulPreferenceCreate");
  const std::size_t workspace_bytes = kWorkspaceBytes;
  check(cublasLtMatmulPreferenceSetAttribute(d.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace_bytes, sizeof workspace_bytes),
        "cublasLtMatmulPreferenceSetAttribute");
  const std::array<std::pair<cublasLtMatmulPreferenceAttributes_t, std::uint32_t>, 4> aligned = {
      {{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment(g.b)},
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment(g.a)},
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment(g.c)},
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment(g.c)}}};
  for (const auto& [attribute, value] : aligned) {
    check(cublasLtMatmulPreferenceSetAttribute(d.preference, attribute, &value, sizeof value),
          "cublasLtMatmulPreferenceSetAttribute");
  }
  const AlgoKey key = {device,
                       std::int64_t(dtype),
                       std::int64_t(allow_tf32),
                       g.ta,
                       g.tb,
                       g.m,
                       g.n,
                       g.k,
                       g.batches,
                       g.stride_a == 0,
                       g.stride_b == 0,
                       g.bias != nullptr,
                       std::int64_t(alignment(g.a)) << 32 | alignment(g.b),
                       alignment(g.c)};
  cublasLtMatmulAlgo_t algo;
  if (!algo_cache().find(key, algo)) {
    cublasLtMatmulHeuristicResult_t heuristic{};
    int found = 0;
    check(cublasLtMatmulAlgoGetHeuristic(handle(device), d.op, d.a, d.b, d.c, d.c, d.preference, 1,
                                         &heuristic, &found),
          "cublasLtMatmulAlgoGetHeuristic");
    check_arg(found > 0, "matmul: cuBLASLt has no algorithm for ", dtype_name(dtype), " m ", g.m,
              " n ", g.n, " k ", g.k, " batches ", g.batches);
    algo = heuristic.algo;
    algo_cache().insert(key, algo);
  }
  // The workspace from the caching allocator: stream-ordered, so concurrent ranks never share one.
  const Tensor workspace = Tensor::empty({std::int64_t(kWorkspaceBytes / 8)}, DType::Int64,
                                         Device{DeviceType::CUDA, device});
  const float one_f = 1, zero_f = 0;
  const double one_d = 1, zero_d = 0;
  const void* alpha = dtype == DType::Float64 ? static_cast<const void*>(&one_d) : &one_f;
  const void* beta = dtype == DType::Float64 ? static_cast<const void*>(&zero_d) : &zero_f;
  check(cublasLtMatmul(handle(device), d.op, alpha, g.b, d.a, g.a, d.b, beta, g.c, d.c, g.c, d.c,
                       &algo, const_cast<void*>(workspace.device_data()), kWorkspaceBytes, stream),
        "cublasLtMatmul");
}

// out = op(a) op(b) (+ bias rows) for the product of g's shape; empty and k == 0 products
// without the library (cuBLASLt rejects zero extents).
void product(CudaBackend& backend, Gemm g, DType dtype, int device, Tensor& out,
             const Tensor& bias) {
  if (out.numel() == 0) return;
  if (g.k == 0) {
    if (bias.defined()) {
      out = backend.broadcast_to(bias, out.shape());
    } else {
      DeviceScope on(device);
      check(cudaMemsetAsync(out.device_data(), 0, out.nbytes(), current_stream(device)),
            "cudaMemsetAsync");
    }
    return;
  }
  if (bias.defined()) g.bias = bias.device_data();
  gemm(g, dtype, device, backend.allow_tf32());
}

}  // namespace

Tensor CudaBackend::matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const kernels::MatmulDims dims = kernels::matmul_dims(a.shape(), b.shape(), trans_a, trans_b);
  const bool a_batched = a.dim() > 2, b_batched = b.dim() > 2;
  Tensor out = Tensor::empty(dims.shape, a.dtype(), a.device());
  Gemm g{a.device_data(),   trans_a, b.device_data(), trans_b,
         out.device_data(), dims.m,  dims.n,          dims.k};
  if (!b_batched && !trans_a) {  // b shared: a's batches are more rows
    g.m = dims.batches * dims.m;
  } else {
    g.batches = dims.batches;
    g.stride_a = a_batched ? dims.m * dims.k : 0;
    g.stride_b = b_batched ? dims.k * dims.n : 0;
  }
  product(*this, g, a.dtype(), a.device().index, out, Tensor());
  return out;
}

Tensor CudaBackend::linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const std::int64_t rows = kernels::leading_rows(x.shape()), in = w.shape()[1],
                     out_features = w.shape()[0];
  Shape shape = x.shape();
  shape.back() = out_features;
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  const Gemm g{x.device_data(), false, w.device_data(), true,
               y.device_data(), rows,  out_features,    in};
  product(*this, g, x.dtype(), x.device().index, y, bias);
  return y;
}

LinearGrads CudaBackend::linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w,
                                         bool need_x, bool need_w, bool need_bias) {
  const std::int64_t rows = kernels::leading_rows(x.shape()), in = w.shape()[1], out = w.shape()[0];
  const int device = x.device().index;
  LinearGrads grads;
  if (need_x) {  // (rows x out) @ (out x in)
    grads.x = Tensor::empty(x.shape(), x.dtype(), x.device());
    const Gemm g{
        grad.device_data(), false, w.device_data(), false, grads.x.device_data(), rows, in, out};
    product(*this, g, x.dtype(), device, grads.x, Tensor());
  }
  if (need_w) {  // (out x rows) @ (rows x in)
    grads.w = Tensor::empty(w.shape(), w.dtype(), w.device());
    const Gemm g{
        grad.device_data(), true, x.device_data(), false, grads.w.device_data(), out, in, rows};
    product(*this, g, x.dtype(), device, grads.w, Tensor());
  }
  if (need_bias) {  // column sums of grad: a sum over every dim but the last
    const std::vector<std::int64_t> leading = kernels::leading_dims(grad.dim());
    grads.bias = leading.empty() ? clone_data(grad) : sum(grad, leading, false);
  }
  return grads;
}

}  // namespace tensorpar::cuda
