// Tensor-parallel training step of the reference Transformer on the sim, against the
// single-rank step in the same binary.
//
// Model and step as bench_training_step: nn::Transformer{n_layers 4, vocab 1024, max_seq_len
// 256, dim 512, n_heads 8, dropout 0, tied weights}, tokens [8, 256], forward, cross_entropy on
// the (Replicate, plain) logits, backward, Adam step, zero_grad; float32.
//
//   BM_TpTrainingStep/1/0   the baseline: the plain model (no mesh) on one rank thread
//   BM_TpTrainingStep/W/SP  parallelize_transformer on a W-rank mesh, sequence parallel off/on
//
// Every rank is one thread (Eigen is built without OpenMP, so a kernel never forks), the W = 1
// run included: ratio_vs_w1 = step time / W = 1 step time is the parallel efficiency's inverse
// (ideal 1/W). More ranks than cores oversubscribes (W = 4 on a 2-core machine).
//
// Counters (steady state: kWarmup untimed steps, then kTimed steps between barriers):
//   step_ms            median wall time of a step, the slowest rank's (the barrier waits for it)
//   ratio_vs_w1        step_ms over the W = 1 run's
//   collective_share   time inside collectives over step time, averaged over ranks; a
//                      collective is timed by core/profiler.h from its call to its completion,
//                      so waiting for a slower peer counts as collective time
//   collectives        collectives per step and rank
//   cpu_ratio_vs_w1    a rank's thread CPU time per step over the W = 1 run's, averaged over
//                      ranks: the share of the work each rank does, blind to machine load (a
//                      rank descheduled for another process loses wall time, not CPU time)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <vector>

#include "core/nn/transformer.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/comm/profiler.h"
#include "core/comm/rank_context.h"
#include "core/tensor/tensor.h"
#include "sim/world.h"
#include "styles/transformer_plan.h"

namespace tensorpar {
namespace {

constexpr std::int64_t kLayers = 4, kVocab = 1024, kSeq = 256, kBatch = 8, kDim = 512, kHeads = 8;
constexpr std::int64_t kTokens = kBatch * kSeq;
constexpr int kWarmup = 2, kTimed = 4;

struct StepStats {
  double step_seconds = 0;      // median over the timed steps (the upper one of an even count)
  double cpu_seconds = 0;       // thread CPU time per step, mean over ranks
  double collective_share = 0;  // mean over ranks
  double collectives_per_step = 0;
  double loss = 0;
};

struct RankSample {
  std::vector<double> step_seconds;
  double cpu_seconds = 0;
  std::int64_t collective_ns = 0;
  std::int64_t collectives = 0;
  double loss = 0;
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

nn::ModelArgs model_args() {
  return {.n_layers = kLayers, .vocab_size = kVocab, .max_seq_len = kSeq, .dim = kDim,
          .n_heads = kHeads, .dropout_p = 0, .weight_tying = true, .seed = 0};
}

// W ranks train the same model on the same batch; world == 1 is the plain model.
StepStats measure(int world, bool sequence_parallel) {
  std::vector<std::int64_t> tok(kTokens), tgt(kTokens);
  for (std::int64_t i = 0; i < kTokens; ++i) {
    tok[i] = (i * 7919 + 13) % kVocab;
    tgt[i] = (i * 104729 + 5) % kVocab;
  }
  std::vector<RankSample> samples(world);
  sim::run(world, [&](int rank) {
    const Tensor tokens = from_vector(tok, {kBatch, kSeq});
    const Tensor targets = from_vector(tgt, {kTokens});
    nn::Transformer model(model_args());
    if (world > 1) {
      const DeviceMesh mesh({world});
      parallelize_transformer(model, mesh, {.sequence_parallel = sequence_parallel});
    }
    optim::Adam opt(model.parameters(), optim::AdamOptions{});
    auto step = [&] {
      Tensor logits = model(tokens);  // [B, S, V], replicated
      Tensor loss = cross_entropy(reshape(logits, {kTokens, kVocab}), targets);
      loss.backward();
      opt.step();
      opt.zero_grad();
      return loss.item();
    };
    for (int i = 0; i < kWarmup; ++i) step();  // allocator caches, Adam state, rule caches
    RankSample& s = samples[rank];
    profiler::ProfileRecorder recorder;
    for (int i = 0; i < kTimed; ++i) {
      current_world().barrier()->wait();
      const std::int64_t t0 = profiler::now_ns();
      const double cpu0 = thread_cpu_seconds();
      {
        profiler::ProfileScope scope(recorder);
        s.loss = step();
      }
      s.cpu_seconds += thread_cpu_seconds() - cpu0;
      current_world().barrier()->wait();
      s.step_seconds.push_back(1e-9 * double(profiler::now_ns() - t0));
    }
    for (const profiler::Event& e : recorder.events()) {
      if (e.category != profiler::Category::Collective) continue;
      s.collective_ns += e.self_ns;
      ++s.collectives;
    }
  });
  // The barrier makes every rank's step end with the slowest one: take rank 0's times.
  std::vector<double> times = samples[0].step_seconds;
  std::sort(times.begin(), times.end());
  StepStats stats;
  stats.step_seconds = times[times.size() / 2];
  double total = 0;
  for (const double t : samples[0].step_seconds) total += t;
  for (const RankSample& s : samples) {
    stats.collective_share += 1e-9 * double(s.collective_ns) / total / world;
    stats.collectives_per_step += double(s.collectives) / kTimed / world;
    stats.cpu_seconds += s.cpu_seconds / kTimed / world;
  }
  stats.loss = samples[0].loss;
  return stats;
}

// The W = 1 run, measured once per process (by the first benchmark that needs it).
const StepStats& baseline() {
  static const StepStats stats = measure(1, false);
  return stats;
}

// Args: world size, sequence parallel (0/1).
void BM_TpTrainingStep(benchmark::State& state) {
  const int world = static_cast<int>(state.range(0));
  const bool sp = state.range(1) != 0;
  StepStats stats;
  for (auto _ : state) {
    stats = world == 1 ? baseline() : measure(world, sp);
    state.SetIterationTime(stats.step_seconds);
  }
  state.counters["step_ms"] = 1e3 * stats.step_seconds;
  state.counters["ratio_vs_w1"] = stats.step_seconds / baseline().step_seconds;
  state.counters["collective_share"] = stats.collective_share;
  state.counters["collectives"] = stats.collectives_per_step;
  state.counters["cpu_ratio_vs_w1"] = stats.cpu_seconds / baseline().cpu_seconds;
  state.counters["loss"] = stats.loss;
  state.SetLabel(world == 1 ? "plain model, 1 rank thread" : sp ? "TP + sequence parallel" : "TP");
}
BENCHMARK(BM_TpTrainingStep)
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({2, 1})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tensorpar

BENCHMARK_MAIN();
