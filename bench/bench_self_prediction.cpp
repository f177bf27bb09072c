// Self-prediction: the cost model, calibrated on this machine, against the sim's measured step.
//
// Once per process this machine is calibrated in-process (tools/calibrate: the same code as
// `tensorpar calibrate`). Then for each configuration and world size W (tp = W, dp = 1, float32,
// no recompute, no sequence parallel; the loss vocab-parallel when W > 1, as plan() models it):
//   predicted  plan() (tools/plan/planner.h) on the calibrated profile, the configuration fixed
//   measured   the sim's real step at the same configuration: each rank thread builds the
//              reference Transformer once, parallelizes it over a W-rank mesh as `tensorpar
//              train` does (W = 1 included), and runs forward, cross_entropy, backward, Adam step,
//              zero_grad; `warmup` untimed steps, then `timed` steps between barriers, of which
//              the lower quartile counts (as calibrate's timings: other processes on the machine
//              only add time)
//
//   BM_SelfPrediction/0/W   bench_tp_training_step's model: 4 layers, dim 512, 8 heads, vocab 1024,
//                           seq 256, batch 8
//   BM_SelfPrediction/1/W   `tensorpar train`'s default model: 2 layers, dim 64, 4 heads, vocab 64,
//                           seq 32, batch 8
//
// Counters: predicted_ms, measured_ms, ratio (predicted / measured; the target is within 15%,
// 0.85..1.15, at W = 1 and 2), the prediction's compute_ms, tp_comm_ms and optimizer_ms, and
// load_avg (the 1-minute load average when the configuration was measured: other processes on the
// machine slow the measured step, not the prediction made from an earlier calibration).
// cpu_ms and cpu_ratio read the same steps off the rank threads' CPU time, blind to the time other
// processes take the cores: max(the busiest rank's CPU time per step, all ranks' CPU time over the
// cores), what the step's wall time would be if the ranks had the cores to themselves (a waiting
// rank spins before it sleeps, so its waits count as CPU time as long as they are short).
// W = 4 runs four rank threads on however many cores there are (two on the reference machine);
// the model charges W / cores of a core to each (shared_compute_units).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <vector>

#include "core/comm/rank_context.h"
#include "core/cost/hardware.h"
#include "core/nn/transformer.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/tensor/tensor.h"
#include "sim/world.h"
#include "styles/loss_parallel.h"
#include "styles/transformer_plan.h"
#include "tools/calibrate/calibrate.h"
#include "tools/calibrate/stopwatch.h"
#include "tools/plan/planner.h"

namespace tensorpar {
namespace {

struct Config {
  const char* name;
  std::int64_t layers, dim, heads, vocab, seq, batch;
  int warmup, timed;
};
constexpr Config kConfigs[] = {
    {"bench_tp_training_step", 4, 512, 8, 1024, 256, 8, 1, 4},
    {"tensorpar train default", 2, 64, 4, 64, 32, 8, 3, 21},
};

const cost::HardwareProfile& calibrated() {
  static const cost::HardwareProfile profile =
      calibrate::calibrate_this_machine({.quick = false}, std::cerr);
  return profile;
}

plan::PlanResult predict(const Config& c, int world) {
  plan::PlanQuery q;
  q.hardware = calibrated();
  q.gpus = world;
  q.gpus_per_node = q.hardware.node.gpus_per_node;
  q.model = {c.layers, c.dim, c.heads, c.seq, c.vocab};
  q.global_batch = c.batch;
  q.dtype = DType::Float32;
  q.dropout = 0;  // as the measured step
  q.tp = world;
  q.dp = 1;
  q.micro_batch = c.batch;
  q.sequence_parallel = false;
  q.recompute = cost::Recompute::None;
  return plan::plan(q).front();
}

struct Measured {
  double wall_s = 0;  // the lower quartile of the steps' wall times (rank 0's, between barriers)
  double cpu_s = 0;   // max(busiest rank, total / cores) of thread CPU time per step (see above)
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

Measured measure(const Config& c, int world, int cores) {
  const std::int64_t tokens_n = c.batch * c.seq;
  std::vector<std::int64_t> tok(static_cast<std::size_t>(tokens_n)), tgt(tok.size());
  for (std::int64_t i = 0; i < tokens_n; ++i) {
    tok[std::size_t(i)] = (i * 7919 + 13) % c.vocab;
    tgt[std::size_t(i)] = (i * 104729 + 5) % c.vocab;
  }
  std::vector<double> rank0_times;
  std::vector<double> cpu(static_cast<std::size_t>(world));  // per rank: lower quartile per step
  sim::run(world, [&](int rank) {
    const Tensor tokens = from_vector(tok, {c.batch, c.seq});
    const Tensor targets = from_vector(tgt, {tokens_n});
    nn::Transformer model({.n_layers = c.layers,
                           .vocab_size = c.vocab,
                           .max_seq_len = c.seq,
                           .dim = c.dim,
                           .n_heads = c.heads,
                           .dropout_p = 0,
                           .weight_tying = true,
                           .seed = 0});
    const bool loss_parallel_on = world > 1;
    parallelize_transformer(model, DeviceMesh({world}, {"tp"}),
                            {.loss_parallel = loss_parallel_on});
    optim::Adam opt(model.parameters(), optim::AdamOptions{});
    const auto step = [&] {
      Tensor logits = reshape(model(tokens), {tokens_n, c.vocab});
      Tensor loss;
      if (loss_parallel_on) {
        const LossParallel scope = loss_parallel();
        loss = cross_entropy(logits, targets);
      } else {
        loss = cross_entropy(logits, targets);
      }
      loss.backward();
      opt.step();
      opt.zero_grad();
    };
    for (int i = 0; i < c.warmup; ++i) step();
    std::vector<double> times, cpu_times;
    for (int i = 0; i < c.timed; ++i) {
      current_world().barrier()->wait();
      const double t0 = calibrate::seconds_now(), cpu0 = thread_cpu_seconds();
      step();
      cpu_times.push_back(thread_cpu_seconds() - cpu0);
      current_world().barrier()->wait();  // the step ends with the slowest rank
      times.push_back(calibrate::seconds_now() - t0);
    }
    cpu[static_cast<std::size_t>(rank)] = calibrate::lower_quartile(cpu_times);
    if (rank == 0) rank0_times = times;
  });
  double busiest = 0, total = 0;
  for (const double t : cpu) {
    busiest = std::max(busiest, t);
    total += t;
  }
  return {calibrate::lower_quartile(rank0_times), std::max(busiest, total / cores)};
}

// Args: configuration index, world size.
void BM_SelfPrediction(benchmark::State& state) {
  const Config& c = kConfigs[state.range(0)];
  const int world = static_cast<int>(state.range(1));
  calibrated();  // before the timing, once per process
  plan::PlanResult predicted;
  Measured measured;
  double load = 0;
  for (auto _ : state) {
    predicted = predict(c, world);
    load = calibrate::load_average();
    measured = measure(c, world, calibrated().device.shared_compute_units);
    state.SetIterationTime(measured.wall_s);
  }
  state.counters["predicted_ms"] = 1e3 * predicted.iteration_s();
  state.counters["measured_ms"] = 1e3 * measured.wall_s;
  state.counters["ratio"] = predicted.iteration_s() / measured.wall_s;
  state.counters["cpu_ms"] = 1e3 * measured.cpu_s;
  state.counters["cpu_ratio"] = predicted.iteration_s() / measured.cpu_s;
  state.counters["compute_ms"] = 1e3 * predicted.time.compute_s;
  state.counters["tp_comm_ms"] = 1e3 * predicted.time.tp_comm_s;
  state.counters["optimizer_ms"] = 1e3 * predicted.time.optimizer_s;
  state.counters["load_avg"] = load;
  state.SetLabel(c.name);
}
BENCHMARK(BM_SelfPrediction)
    ->ArgsProduct({{0, 1}, {1, 2, 4}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tensorpar

BENCHMARK_MAIN();
