// `tensorpar plan`'s enumeration (tools/plan/planner.h): every plan of a model on a cluster,
// each with its shape-only workload and its iteration estimate, as the command runs it.
//
//   BM_PlanGpt3/gpus       GPT-3 175B (96 layers, dim 12288, 96 heads, seq 2048, vocab 51200),
//                          global batch 1536, on `gpus` a100-sxm4-80gb GPUs: every (tp, dp,
//                          micro-batch, sequence parallel, recompute) that divides evenly
//   BM_PlanOneGpt3/gpus    the same model, one plan (tp 8, micro-batch 1, SP, selective)
//
// Counters:
//   plan_s      wall time of one plan() call (shape-only runs included: nothing is cached
//               across calls)
//   plans       plans evaluated
//   runs        shape-only runs made (4 per distinct tp x sequence parallel)
//   best_ms     the best plan's predicted iteration time
#include <benchmark/benchmark.h>

#include <chrono>
#include <set>
#include <tuple>

#include "tools/plan/planner.h"

namespace tensorpar {
namespace {

plan::PlanQuery gpt3_query(int gpus) {
  plan::PlanQuery q;
  q.hardware = cost::load_hardware("a100-sxm4-80gb");
  q.gpus = gpus;
  q.model = {.layers = 96, .hidden = 12288, .heads = 96, .seq = 2048, .vocab = 51200};
  q.global_batch = 1536;
  return q;
}

void run(benchmark::State& state, const plan::PlanQuery& q) {
  std::vector<plan::PlanResult> plans;
  double plan_s = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    plans = plan::plan(q);
    plan_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(plan_s);
  }
  std::set<std::tuple<int, bool>> bases;
  for (const auto& p : plans) bases.insert({p.config.tp, p.config.sequence_parallel});
  state.counters["plan_s"] = plan_s;
  state.counters["plans"] = static_cast<double>(plans.size());
  state.counters["runs"] = static_cast<double>(4 * bases.size());
  state.counters["best_ms"] = plans.empty() ? 0.0 : plans.front().iteration_s() * 1e3;
}

void BM_PlanGpt3(benchmark::State& state) { run(state, gpt3_query(int(state.range(0)))); }

void BM_PlanOneGpt3(benchmark::State& state) {
  plan::PlanQuery q = gpt3_query(int(state.range(0)));
  q.tp = 8;
  q.micro_batch = 1;
  q.sequence_parallel = true;
  q.recompute = cost::Recompute::Selective;
  run(state, q);
}

BENCHMARK(BM_PlanGpt3)->Arg(1024)->UseManualTime()->Iterations(1)->Unit(benchmark::kSecond);
BENCHMARK(BM_PlanOneGpt3)->Arg(1024)->UseManualTime()->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace tensorpar

BENCHMARK_MAIN();
