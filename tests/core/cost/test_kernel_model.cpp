// The kernel roofline: GEMMs at peak x the GEMM curve, other kernels at peak or at memory
// bandwidth x the memory curve, plus the launch cost; linear_backward's two GEMMs; records from
// the meta backend itself.
#include <gtest/gtest.h>

#include <cmath>

#include "core/cost/kernel_model.h"
#include "core/kernels/matmul.h"
#include "core/kernels/meta/op_record.h"
#include "core/tensor/meta_device.h"
#include "core/tensor/tensor.h"

namespace tensorpar::cost {
namespace {

// A device with round numbers: 100 TFLOP/s bf16, 10 f32, 1 TB/s, 5 us per kernel, a GEMM curve
// of 0.5 up to 1 GFLOP rising to 1.0 at 100 GFLOP, a memory curve of 0.5 at 1 MB to 1.0 at 100 MB.
HardwareProfile round_device() {
  HardwareProfile h;
  h.device.name = "round";
  h.device.peak_flops = {{"bf16", 100e12}, {"f32", 10e12}};
  h.device.memory_bandwidth = 1e12;
  h.device.kernel_launch_s = 5e-6;
  h.device.gemm_efficiency.points = {{1e9, 0.5}, {100e9, 1.0}};
  h.device.memory_efficiency.points = {{1e6, 0.5}, {100e6, 1.0}};
  return h;
}

kernels::OpRecord record(std::string kernel, std::int64_t flops, std::int64_t read,
                         std::int64_t written, DType dtype, Shape shape) {
  kernels::OpRecord r;
  r.kernel = std::move(kernel);
  r.flops = flops;
  r.bytes_read = read;
  r.bytes_written = written;
  r.dtype = dtype;
  r.shape = std::move(shape);
  return r;
}

TEST(KernelModel, LargeGemmIsComputeBoundOnTheCurve) {
  // 2 x 8192^3 = 1.1 TFLOP, beyond the curve's end (1.0): 1.1e12 / 100e12 = 11.0 ms + 5 us.
  const std::int64_t n = 8192, flops = 2 * n * n * n;
  KernelEstimate e = kernel_time(
      record("matmul", flops, 2 * 2 * n * n, 2 * n * n, DType::BFloat16, {n, n}), round_device());
  EXPECT_EQ(e.bound, "compute");
  EXPECT_DOUBLE_EQ(e.seconds, 5e-6 + double(flops) / 100e12);
}

TEST(KernelModel, MidSizeGemmReadsTheCurveAtItsFlops) {
  // 10 GFLOP: efficiency 0.75 (half way in log from 1 to 100 GFLOP) -> 10e9 / 75e12 = 133.3 us.
  KernelEstimate e = kernel_time(
      record("linear", 10'000'000'000, 1000, 1000, DType::BFloat16, {10, 10}), round_device());
  EXPECT_EQ(e.bound, "compute");
  EXPECT_NEAR(e.seconds, 5e-6 + 10e9 / 75e12, 1e-12);
}

TEST(KernelModel, ElementwiseIsMemoryBoundOnTheMemoryCurve) {
  // gelu over 10M f32 elements: 40 MB read + 40 MB written = 80 MB; memory efficiency at 80 MB:
  // 0.5 + 0.5 x log(80) / log(100) = 0.9758; 80e6 / (1e12 x 0.9758) = 82.0 us; 10 MFLOP at the
  // f32 peak without the GEMM curve = 1 us.
  const std::int64_t n = 10'000'000;
  KernelEstimate e =
      kernel_time(record("unary", n, 4 * n, 4 * n, DType::Float32, {n}), round_device());
  EXPECT_EQ(e.bound, "memory");
  const double eff = 0.5 + 0.5 * std::log(80.0) / std::log(100.0);
  EXPECT_NEAR(e.seconds, 5e-6 + 80e6 / (1e12 * eff), 1e-12);
}

TEST(KernelModel, TinyKernelIsLaunchBound) {
  KernelEstimate e = kernel_time(record("binary", 4, 32, 16, DType::Float32, {4}), round_device());
  EXPECT_EQ(e.bound, "launch");
  EXPECT_NEAR(e.seconds, 5e-6 + 48 / (1e12 * 0.5), 1e-15);
}

TEST(KernelModel, ViewsCostNothing) {
  KernelEstimate e =
      kernel_time(record("permute", 0, 0, 0, DType::Float32, {2, 3}), round_device());
  EXPECT_EQ(e.bound, "none");
  EXPECT_EQ(e.seconds, 0);
}

TEST(KernelModel, IntegerKernelsUseTheF32Peak) {
  KernelEstimate e =
      kernel_time(record("reduce", 1'000'000'000, 8, 8, DType::Int64, {}), round_device());
  EXPECT_NEAR(e.seconds, 5e-6 + 1e9 / 10e12, 1e-12);
}

// linear_backward of x [rows, in] and w [out, in] on the meta device, as the meta backend records
// it.
kernels::OpRecord linear_backward_record(std::int64_t rows, std::int64_t in, std::int64_t out,
                                         bool need_x, bool need_w, bool need_bias) {
  Tensor x = Tensor::empty({rows, in}, DType::BFloat16, meta_device());
  Tensor w = Tensor::empty({out, in}, DType::BFloat16, meta_device());
  Tensor grad = Tensor::empty({rows, out}, DType::BFloat16, meta_device());
  kernels::OpRecorder ops;
  kernels::linear_backward(grad, x, w, need_x, need_w, need_bias);
  EXPECT_EQ(ops.records().size(), 1u);
  return ops.records().at(0);
}

TEST(KernelModel, LinearBackwardHoldsOneGemmPerGradient) {
  EXPECT_EQ(gemm_count(linear_backward_record(64, 16, 48, true, true, true)), 2);
  EXPECT_EQ(gemm_count(linear_backward_record(64, 16, 48, true, true, false)), 2);
  EXPECT_EQ(gemm_count(linear_backward_record(64, 16, 48, true, false, false)), 1);
  EXPECT_EQ(gemm_count(linear_backward_record(64, 16, 48, false, true, true)), 1);
  EXPECT_EQ(gemm_count(linear_backward_record(64, 16, 48, false, true, false)), 1);
  EXPECT_EQ(gemm_count(record("matmul", 8, 8, 8, DType::Float32, {2})), 1);
  EXPECT_EQ(gemm_count(record("unary", 8, 8, 8, DType::Float32, {2})), 0);
}

TEST(KernelModel, LinearBackwardReadsTheCurveAtOneGemm) {
  // rows 1024, in = out = 2048, both gradients: 2 GEMMs of 2 x 1024 x 2048^2 = 8.59 GFLOP, each
  // at efficiency 0.5 + 0.5 x log(8.59) / log(100) = 0.7335 (not 0.8088, the curve at 17.2 GFLOP).
  kernels::OpRecord r = linear_backward_record(1024, 2048, 2048, true, true, false);
  const double per_gemm = 2.0 * 1024 * 2048 * 2048;
  ASSERT_EQ(r.flops, std::int64_t(2 * per_gemm));
  const double eff = 0.5 + 0.5 * std::log(per_gemm / 1e9) / std::log(100.0);
  KernelEstimate e = kernel_time(r, round_device());
  EXPECT_EQ(e.bound, "compute");
  EXPECT_NEAR(e.seconds, 5e-6 + 2 * per_gemm / (100e12 * eff), 1e-12);
}

TEST(KernelModel, GptLayerKernelsOnA100) {
  // docs/cost_model.md's example: w1 of a 22B layer at b s = 8192 tokens, h = 6144, t = 8 (3072
  // local outputs), bf16, on a100-sxm4-80gb: 309 GFLOP beyond the curve's 128 GFLOP point (0.95 of
  // 312 TFLOP/s); the GELU after it moves 2 x 8192 x 3072 x 2 B = 100.7 MB at 0.9 x 2,039 GB/s.
  const HardwareProfile a100 = load_hardware("a100-sxm4-80gb");
  const std::int64_t tokens = 8192, h = 6144, out = 3072;
  const std::int64_t flops = 2 * tokens * h * out + tokens * out;  // with the bias
  KernelEstimate w1 = kernel_time(record("linear", flops, 2 * (tokens * h + out * h + out),
                                         2 * tokens * out, DType::BFloat16, {tokens, out}),
                                  a100);
  EXPECT_EQ(w1.bound, "compute");
  EXPECT_NEAR(w1.seconds, 3e-6 + double(flops) / (0.95 * 312e12), 1e-12);
  const std::int64_t bytes = 2 * tokens * out * 2;
  KernelEstimate gelu = kernel_time(
      record("unary", tokens * out, bytes / 2, bytes / 2, DType::BFloat16, {tokens, out}), a100);
  EXPECT_EQ(gelu.bound, "memory");
  EXPECT_NEAR(gelu.seconds, 3e-6 + double(bytes) / (0.9 * 2039e9), 1e-12);
}

}  // namespace
}  // namespace tensorpar::cost
