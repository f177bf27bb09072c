// Redistribute planning: the greedy plan built from scratch (cold) versus looked up in the
// per-thread cache, for a 1-D, a 2-D and the nested 3-D case. Target: cached planning under 1 us.
// Also one end-to-end S(0) -> R redistribute on 4 simulated ranks next to a memcpy of the
// gathered bytes (the data movement it cannot beat).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/comm/rank_context.h"
#include "core/dtensor/redistribute.h"
#include "sim/world.h"

namespace tensorpar {
namespace {

struct PlanCase {
  Shape mesh;
  const char* from;
  const char* to;
};

const PlanCase kPlanCases[] = {
    {{8}, "S0", "S1"},
    {{2, 2}, "S0,S1", "S1,S0"},
    {{2, 2, 2}, "S0,S0,S0", "S1,S1,S1"},
};

void BM_PlanCold(benchmark::State& state) {
  const PlanCase& c = kPlanCases[state.range(0)];
  const Placements src = parse_placements(c.from), dst = parse_placements(c.to);
  for (auto _ : state) {
    RedistributePlan plan = plan_redistribute_uncached(c.mesh, src, dst);
    benchmark::DoNotOptimize(plan.steps.data());
  }
  state.SetLabel(std::string(c.from) + " -> " + c.to);
}
BENCHMARK(BM_PlanCold)->DenseRange(0, 2);

void BM_PlanCached(benchmark::State& state) {
  const PlanCase& c = kPlanCases[state.range(0)];
  const Placements src = parse_placements(c.from), dst = parse_placements(c.to);
  plan_redistribute(c.mesh, src, dst);
  for (auto _ : state) {
    const RedistributePlan& plan = plan_redistribute(c.mesh, src, dst);
    benchmark::DoNotOptimize(&plan);
  }
  state.SetLabel(std::string(c.from) + " -> " + c.to);
}
BENCHMARK(BM_PlanCached)->DenseRange(0, 2);

// One S(0) -> R of a (rows, 1024) float32 tensor over 4 ranks; rank 0 times each iteration.
void BM_RedistributeShardToReplicate(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const int iterations = static_cast<int>(state.max_iterations);
  std::vector<double> seconds;
  sim::run(4, [&](int rank) {
    DeviceMesh mesh({4});
    DTensor dt = distribute_tensor(zeros({rows, 1024}), mesh, {Shard(0)}, std::nullopt);
    for (int i = 0; i < iterations + 1; ++i) {  // one warm-up
      current_world().barrier()->wait();
      auto t0 = std::chrono::steady_clock::now();
      DTensor r = dt.redistribute({Replicate()});
      benchmark::DoNotOptimize(r.to_local().data_ptr());
      current_world().barrier()->wait();
      auto t1 = std::chrono::steady_clock::now();
      if (rank == 0 && i > 0) seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
  });
  std::size_t i = 0;
  for (auto _ : state) state.SetIterationTime(seconds[i++]);
  state.SetBytesProcessed(state.iterations() * rows * 1024 * 4);
}
BENCHMARK(BM_RedistributeShardToReplicate)->Arg(256)->Arg(4096)->UseManualTime()->Iterations(20);

void BM_MemcpyBaseline(benchmark::State& state) {
  const std::size_t bytes = static_cast<std::size_t>(state.range(0)) * 1024 * 4;
  std::vector<char> a(bytes, 1), b(bytes);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), bytes);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_MemcpyBaseline)->Arg(256)->Arg(4096);

}  // namespace
}  // namespace tensorpar

BENCHMARK_MAIN();
