// Per-op overhead of the DTensor path: the same tiny op (add of two 1-element tensors, relu of
// one, a 1x1 linear with bias) on plain tensors and on Replicate DTensors over a 1-rank mesh
// (inside sim::run(1, ...)), with the sharding decision cached by one call before timing. The
// kernels do almost nothing, so the difference is the cost of the DTensor dispatch: spec lookup,
// cached sharding rule, wrapping the local result. Target: under 5 us per op.
// grad = 1 makes the inputs leaves that require grad, so the op is also recorded by autograd
// (forward only; the graph is dropped with the result).
//
// Counters on the DTensor rows: plain_ns (the plain op timed in the same run, same thread),
// overhead_us (DTensor minus plain), cache_misses (sharding cache growth while timing; 0 means
// every decision came from the cache).
#include <benchmark/benchmark.h>

#include <chrono>
#include <optional>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/ops/op.h"
#include "core/tensor/philox.h"
#include "core/tensor/tensor.h"
#include "sim/world.h"

namespace tensorpar {
namespace {

enum OpKind { kAdd = 0, kRelu = 1, kLinear = 2 };
const char* const kOpNames[] = {"add [1]+[1]", "relu [1]", "linear [1,1]x[1,1]+[1]"};

std::vector<Tensor> make_inputs(OpKind op) {
  Generator gen(0);
  switch (op) {
    case kAdd: return {randn({1}, gen), randn({1}, gen)};
    case kRelu: return {randn({1}, gen)};
    case kLinear: return {randn({1, 1}, gen), randn({1, 1}, gen), randn({1}, gen)};
  }
  return {};
}

Tensor run_op(OpKind op, const std::vector<Tensor>& in) {
  switch (op) {
    case kAdd: return add(in[0], in[1]);
    case kRelu: return relu(in[0]);
    case kLinear: return linear(in[0], in[1], in[2]);
  }
  return {};
}

double ns_per_op(OpKind op, const std::vector<Tensor>& in, int n) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    Tensor r = run_op(op, in);
    benchmark::DoNotOptimize(r);
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
         n;
}

// Args: op, dtensor (0 plain, 1 DTensor on a 1-rank mesh), grad (inputs require grad).
void BM_OpOverhead(benchmark::State& state) {
  const auto op = static_cast<OpKind>(state.range(0));
  const bool use_dtensor = state.range(1) != 0, grad = state.range(2) != 0;
  double plain_ns = 0, dtensor_ns = 0;
  std::size_t misses = 0;
  sim::run(1, [&] {
    DeviceMesh mesh({1});
    std::vector<Tensor> plain = make_inputs(op), dist;
    for (const Tensor& t : plain) {
      dist.push_back(distribute_tensor(t, mesh, {Replicate()}, std::nullopt));
      if (grad) dist.back().requires_grad_();
    }
    for (Tensor& t : plain)
      if (grad) t.requires_grad_();
    const std::vector<Tensor>& in = use_dtensor ? dist : plain;

    benchmark::DoNotOptimize(run_op(op, in));  // caches the sharding decision
    if (use_dtensor) {
      benchmark::DoNotOptimize(run_op(op, plain));
      plain_ns = ns_per_op(op, plain, 20000);
    }
    const std::size_t cache_before = sharding_cache_size();
    auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
      Tensor r = run_op(op, in);
      benchmark::DoNotOptimize(r);
    }
    dtensor_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                     .count() /
                 static_cast<double>(state.iterations());
    misses = sharding_cache_size() - cache_before;
  });
  if (use_dtensor) {
    state.counters["plain_ns"] = plain_ns;
    state.counters["overhead_us"] = (dtensor_ns - plain_ns) * 1e-3;
    state.counters["cache_misses"] = static_cast<double>(misses);
  }
  state.SetLabel(std::string(kOpNames[op]) + (use_dtensor ? ", DTensor" : ", plain") +
                 (grad ? ", requires_grad" : ""));
}
BENCHMARK(BM_OpOverhead)
    ->ArgsProduct({{kAdd, kRelu, kLinear}, {0, 1}, {0}})
    ->Args({kLinear, 0, 1})
    ->Args({kLinear, 1, 1})
    ->Args({kAdd, 0, 1})
    ->Args({kAdd, 1, 1})
    ->ArgNames({"op", "dtensor", "grad"})
    ->UseRealTime();

}  // namespace
}  // namespace tensorpar

BENCHMARK_MAIN();
