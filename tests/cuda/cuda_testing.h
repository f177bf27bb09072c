#pragma once
// The CUDA suites' habit (llm.c, ggml): every kernel runs on CUDA copies of the inputs and is
// compared with the CPU backend on the originals: bit for bit for data movement, within a
// tolerance scaled to the reference for arithmetic. Each test skips with "no CUDA device" on a
// machine without a GPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/base/rank_context.h"
#include "core/kernels/attention.h"
#include "core/kernels/elementwise.h"
#include "core/kernels/embedding.h"
#include "core/kernels/layout.h"
#include "core/kernels/loss.h"
#include "core/kernels/matmul.h"
#include "core/kernels/norm.h"
#include "core/kernels/optim.h"
#include "core/kernels/random_block.h"
#include "core/kernels/reduce.h"
#include "core/kernels/softmax.h"
#include "core/kernels/vocab_parallel.h"
#include "core/ops/ops.h"
#include "core/tensor/philox.h"
#include "cuda/cuda_device.h"
#include "support/expect_error.h"

namespace tensorpar::cuda_testing {

using testing::expect_error;

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    cuda::register_cuda_device();
  }
};

inline Device gpu() { return cuda::cuda_device(0); }

// t on cuda:0 (an undefined tensor stays undefined).
inline Tensor on_gpu(const Tensor& t) { return t.defined() ? t.to(gpu()) : t; }

// Reproducible inputs: uniform in [lo, hi) from a fixed Philox stream.
inline Tensor random(const Shape& shape, DType dtype = DType::Float32, double lo = -2,
                     double hi = 2, std::uint64_t seed = 7) {
  Generator gen(seed);
  Tensor t = rand(shape, gen, DType::Float64, cpu());
  kernels::affine_(t, lo, hi - lo);
  return t.to(dtype);
}

// Integer values in [0, n) as int64, for indices and targets.
inline Tensor random_indices(const Shape& shape, std::int64_t n, std::uint64_t seed = 11) {
  Generator gen(seed);
  std::vector<std::int64_t> v(std::size_t(numel(shape)));
  const Tensor u = rand(shape, gen, DType::Float64, cpu());
  const double* p = u.data<double>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::int64_t(p[i] * double(n));
  return from_vector<std::int64_t>(v, shape, cpu());
}

// The tolerance of float arithmetic in dtype, relative to the reference's largest magnitude.
inline double tolerance(DType dtype) { return dtype == DType::Float64 ? 1e-12 : 2e-5; }

// got (on cuda) equals ref (on the cpu) within tol * (1 + max |ref|); NaNs must match.
inline void expect_close(const Tensor& got, const Tensor& ref, double tol) {
  ASSERT_TRUE(got.defined());
  EXPECT_EQ(got.device(), gpu());
  const Tensor host = got.to(cpu());
  ASSERT_EQ(host.shape(), ref.shape());
  ASSERT_EQ(host.dtype(), ref.dtype());
  const std::vector<double> a = to_vector<double>(host), b = to_vector<double>(ref);
  double scale = 0;
  for (double v : b) {
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(b[i]) || std::isinf(b[i])) {
      EXPECT_TRUE(std::isnan(b[i]) ? std::isnan(a[i]) : a[i] == b[i]) << "at " << i;
      continue;
    }
    ASSERT_LE(std::fabs(a[i] - b[i]), tol * (1 + scale))
        << "at " << i << ": " << a[i] << " vs " << b[i];
  }
}

inline void expect_close(const Tensor& got, const Tensor& ref) {
  expect_close(got, ref, tolerance(ref.dtype()));
}

// got (on cuda) holds exactly ref's bytes.
inline void expect_bitwise(const Tensor& got, const Tensor& ref) {
  ASSERT_TRUE(got.defined());
  EXPECT_EQ(got.device(), gpu());
  const Tensor host = got.to(cpu());
  ASSERT_EQ(host.shape(), ref.shape());
  ASSERT_EQ(host.dtype(), ref.dtype());
  EXPECT_EQ(std::memcmp(host.data_ptr(), ref.data_ptr(), ref.nbytes()), 0);
}

}  // namespace tensorpar::cuda_testing
