// bf16 GEMM through the library on a GPU: kernels::matmul of two n x n bfloat16 CUDA tensors
// (f32 accumulation), against the dense bf16 peak of an H100/H200 SXM (989 TFLOP/s).
//
//   bench_cuda_bf16_gemm --benchmark_filter='Bf16Gemm/8192'
//   Bf16Gemm/8192/manual_time   <ms per product>   TFLOPs=<rate> peak_TFLOPs=989
//
// Time is wall time over `batch` products between two device synchronisations (the launch
// queue stays full, so it measures the GPU, not the host). Operands are normal draws (random
// data: zeros run faster on these chips). Without a GPU it reports why and measures nothing.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <chrono>
#include <string>

#include "core/kernels/matmul.h"
#include "core/tensor/device.h"
#include "core/tensor/philox.h"
#include "core/tensor/tensor.h"
#include "cuda/cuda_device.h"
#include "cuda/cuda_probe.h"

namespace {

using namespace tensorpar;

constexpr double kPeakTflops = 989.0;  // H100/H200 SXM, dense bf16

// Why this process cannot run the bench, or "" when it can.
std::string unavailable() {
  const cuda::CudaProbe probe = cuda::probe_cuda_devices();
  if (probe.count == 0) return "no CUDA device (" + probe.reason + ")";
  cuda::register_cuda_device();
  return "";
}

void Bf16Gemm(benchmark::State& state) {
  if (const std::string why = unavailable(); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  const std::int64_t n = state.range(0);
  const Device gpu{DeviceType::CUDA, 0};
  Generator gen(0);
  const Tensor a = randn({n, n}, gen, DType::Float32, cpu()).to(DType::BFloat16).to(gpu);
  const Tensor b = randn({n, n}, gen, DType::Float32, cpu()).to(DType::BFloat16).to(gpu);
  constexpr int kBatch = 10;
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(kernels::matmul(a, b));  // warm-up
  cudaDeviceSynchronize();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatch; ++i) benchmark::DoNotOptimize(kernels::matmul(a, b));
    cudaDeviceSynchronize();
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    state.SetIterationTime(dt.count() / kBatch);
  }
  const double flops = 2.0 * static_cast<double>(n) * n * n;
  state.counters["TFLOPs"] =
      benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_TFLOPs"] = kPeakTflops;
}
BENCHMARK(Bf16Gemm)->Arg(4096)->Arg(8192)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
