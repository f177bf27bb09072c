// Shape-only training steps (docs/shape_only.md) of the reference Transformer at real model
// dimensions, against the same step at 8 ranks in the same binary.
//
//   BM_Gpt3Step/W/distinct     GPT-3 175B dims: dim 12288, 96 heads, 96 layers, vocab 50257,
//                              seq 2048, batch 1; distinct 1 runs one rank per class of
//                              equivalent ranks, 0 runs every rank
//   BM_Llama2Step/W/distinct   Llama-2 70B dims on the reference architecture: dim 8192, 64
//                              heads, 80 layers, vocab 32000, seq 4096, batch 1
//
// Each step: build the model on meta, parallelize_transformer over W ranks, forward, cross
// entropy, backward, Adam step; float32; no sequence parallel.
//
// Counters:
//   step_s          wall time of one shape-only step, set-up included
//   ratio_vs_w8     step_s over the W = 8 run of the same model
//   ranks_run       ranks whose body ran (the others share a representative's records)
//   ops, colls      kernel calls and collectives of rank 0's step
//   tflop           rank 0's step FLOPs / 1e12
//   peak_gib        rank 0's step high-water mark
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <set>

#include "tools/shape_only/transformer_step.h"

namespace tensorpar {
namespace {

double timed_step(const ShapeOnlyStepConfig& c, std::vector<sim::ShapeOnlyRank>* out) {
  const auto start = std::chrono::steady_clock::now();
  *out = shape_only_step(c);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void run(benchmark::State& state, ShapeOnlyStepConfig (*make)(int)) {
  ShapeOnlyStepConfig c = make(static_cast<int>(state.range(0)));
  c.distinct_ranks = state.range(1) != 0;
  ShapeOnlyStepConfig base = make(8);
  std::vector<sim::ShapeOnlyRank> ranks;
  const double base_s = timed_step(base, &ranks);
  double step_s = 0;
  for (auto _ : state) {
    step_s = timed_step(c, &ranks);
    state.SetIterationTime(step_s);
  }
  std::set<int> ran;
  for (const auto& r : ranks) ran.insert(r.represented_by);
  std::int64_t flops = 0;
  for (const auto& op : *ranks[0].ops) flops += op.flops;
  state.counters["step_s"] = step_s;
  state.counters["ratio_vs_w8"] = step_s / base_s;
  state.counters["ranks_run"] = static_cast<double>(ran.size());
  state.counters["ops"] = static_cast<double>(ranks[0].ops->size());
  state.counters["colls"] = static_cast<double>(ranks[0].collectives->size());
  state.counters["tflop"] = static_cast<double>(flops) / 1e12;
  state.counters["peak_gib"] = static_cast<double>(ranks[0].peak_bytes) / (1u << 30);
}

void BM_Gpt3Step(benchmark::State& state) {
  run(state, [](int w) { return gpt3_175b(w); });
}
void BM_Llama2Step(benchmark::State& state) {
  run(state, [](int w) { return llama2_70b(w); });
}

BENCHMARK(BM_Gpt3Step)
    ->Args({32, 1})
    ->Args({64, 1})
    ->Args({64, 0})
    ->Args({512, 1})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_Llama2Step)->Args({512, 1})->UseManualTime()->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace tensorpar

BENCHMARK_MAIN();
