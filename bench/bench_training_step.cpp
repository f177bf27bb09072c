// One training step of the reference Transformer on one thread, next to the GEMM it is made of.
//
// BM_Gemm: kernels::matmul (one Eigen GEMM) on the float32 shapes that dominate the model:
// the FFN projections [T, D] x [D, 4D] and the attention projections [T, D] x [D, D], with
// T = batch * seq = 2048 tokens and D = 512. Reports GFLOP/s (2*M*N*K per product).
//
// BM_TrainingStep: forward, cross_entropy, backward, Adam step and zero_grad of
// nn::Transformer{n_layers 4, vocab 1024, max_seq_len 256, dim 512, n_heads 8, dropout 0,
// tied weights} at seq 256, batch 8, float32. Reports achieved GFLOP/s counting matmul FLOPs
// only (over thread CPU time), and fraction_of_gemm: that rate over the [2048, 512] x
// [512, 2048] GEMM rate measured inside the same benchmark (just before the timed steps, also
// in thread CPU time), so both see the same machine load.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <vector>

#include "core/kernels/matmul.h"
#include "core/nn/transformer.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/tensor/philox.h"
#include "core/tensor/tensor.h"

namespace tensorpar {
namespace {

constexpr std::int64_t kLayers = 4, kVocab = 1024, kSeq = 256, kBatch = 8, kDim = 512, kHeads = 8;
constexpr std::int64_t kTokens = kBatch * kSeq;

// This thread's CPU time in seconds. Everything here runs on one thread (Eigen is built without
// OpenMP), so CPU time is the compute time even when the machine is shared and the thread is
// descheduled part of the time; both rates below use it, so their ratio is not skewed by load.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double gemm_flops(std::int64_t m, std::int64_t n, std::int64_t k) { return 2.0 * m * n * k; }

// Matmul FLOPs of one training step. With T = B*S tokens, D = dim, V = vocab, L = layers:
//   per layer, linears:  wq, wk, wv, wo: 4 * 2*T*D*D;  w1 (D->4D), w2 (4D->D): 2 * 2*T*D*4D
//                        = 24*T*D^2
//   per layer, attention: q k^T and p v, each B*H products of (S x hd)(hd x S) / (S x S)(S x hd)
//                        = 2 * 2*B*S*S*D = 4*B*S^2*D (the causal mask is applied to the full
//                        score matrix, so no half is skipped)
//   output (tied):        2*T*D*V
//   forward F = L*(24*T*D^2 + 4*B*S^2*D) + 2*T*D*V;  backward = 2F (grad wrt both operands of
//   every product);  step = 3F.
// Embedding lookups, norms, softmax, GELU, loss and Adam are not counted.
double step_matmul_flops() {
  const double T = kTokens, D = kDim, V = kVocab, B = kBatch, S = kSeq, L = kLayers;
  const double forward = L * (24 * T * D * D + 4 * B * S * S * D) + 2 * T * D * V;
  return 3 * forward;
}

// Best-of-`reps` GFLOP/s (thread CPU time) of one [m, k] x [k, n] float32 GEMM.
double measure_gemm_gflops(std::int64_t m, std::int64_t n, std::int64_t k, int reps) {
  Generator gen(1);
  Tensor a = randn({m, k}, gen), b = randn({k, n}, gen);
  benchmark::DoNotOptimize(kernels::matmul(a, b).data_ptr());  // warm-up
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = thread_seconds();
    Tensor c = kernels::matmul(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
    best = std::min(best, thread_seconds() - t0);
  }
  return gemm_flops(m, n, k) / best * 1e-9;
}

// Args: M, N, K.
void BM_Gemm(benchmark::State& state) {
  const std::int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Generator gen(1);
  Tensor a = randn({m, k}, gen), b = randn({k, n}, gen);
  for (auto _ : state) {
    Tensor c = kernels::matmul(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(gemm_flops(m, n, k) * 1e-9 * state.iterations(),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Gemm)
    ->Args({kTokens, 4 * kDim, kDim})  // x @ w1^T
    ->Args({kTokens, kDim, 4 * kDim})  // h @ w2^T
    ->Args({kTokens, kDim, kDim})      // wq / wk / wv / wo
    ->Args({kTokens, kVocab, kDim})    // output
    ->Unit(benchmark::kMillisecond);

void BM_TrainingStep(benchmark::State& state) {
  nn::Transformer model({.n_layers = kLayers, .vocab_size = kVocab, .max_seq_len = kSeq,
                         .dim = kDim, .n_heads = kHeads, .dropout_p = 0, .weight_tying = true,
                         .seed = 0});
  optim::Adam opt(model.parameters(), optim::AdamOptions{});

  std::vector<std::int64_t> tok(kTokens), tgt(kTokens);
  for (std::int64_t i = 0; i < kTokens; ++i) {
    tok[i] = (i * 7919 + 13) % kVocab;
    tgt[i] = (i * 104729 + 5) % kVocab;
  }
  const Tensor tokens = from_vector(tok, {kBatch, kSeq});
  const Tensor targets = from_vector(tgt, {kTokens});

  auto step = [&] {
    Tensor logits = model(tokens);  // [B, S, V]
    Tensor loss = cross_entropy(reshape(logits, {kTokens, kVocab}), targets);
    loss.backward();
    opt.step();
    opt.zero_grad();
    return loss.item();
  };
  benchmark::DoNotOptimize(step());  // warm-up: allocator caches, Adam state

  const double gemm_gflops = measure_gemm_gflops(kTokens, 4 * kDim, kDim, 3);
  double loss = 0;
  const double t0 = thread_seconds();
  for (auto _ : state) loss = step();
  const double seconds = thread_seconds() - t0;

  const double flops = step_matmul_flops();
  const double gflops = flops * 1e-9 * static_cast<double>(state.iterations()) / seconds;
  state.counters["GFLOP/s"] = gflops;
  state.counters["fraction_of_gemm"] = gflops / gemm_gflops;
  state.counters["gemm_GFLOP/s"] = gemm_gflops;
  state.counters["step_GFLOP"] = flops * 1e-9;
  state.counters["loss"] = loss;
  state.SetLabel("L4 D512 H8 V1024 seq256 batch8 fp32, 1 thread");
}
BENCHMARK(BM_TrainingStep)->Unit(benchmark::kSecond)->Iterations(3);

}  // namespace
}  // namespace tensorpar

BENCHMARK_MAIN();
