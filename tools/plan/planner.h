#pragma once
// `tensorpar plan`'s engine: the plans of a model on a cluster, each evaluated by the cost model
// (docs/cost_model.md) on a workload read off a shape-only run of the real step.
//
//   PlanQuery q;  q.hardware = load_hardware("a100-sxm4-80gb");  q.gpus = 8;
//   q.model = {48, 6144, 64, 2048, 51200};  q.global_batch = 4;  (tp, dp, micro_batch unset)
//   std::vector<PlanResult> plans = plan(q);   // every plan that divides evenly, best first
//
// A plan divides evenly when tp divides the heads, the hidden size and gpus; dp = gpus / tp;
// micro_batch divides global_batch / dp; sequence parallel needs tp > 1 and tp dividing seq.
// Plans that do not fit in memory are kept, marked fits = false, and ranked after those that fit.
// The loss is vocab-parallel (loss_parallel) when tp > 1, as Megatron's is, unless the query
// says otherwise (tensorpar train without --loss-parallel gathers the logits instead).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cost/hardware.h"
#include "core/cost/iteration_model.h"
#include "core/cost/memory_model.h"

namespace tensorpar::plan {

struct PlanQuery {
  cost::HardwareProfile hardware;
  int gpus = 1;
  int gpus_per_node = 8;  // overrides hardware.node.gpus_per_node when given on the command line
  cost::ModelShape model;
  std::int64_t global_batch = 1;
  DType dtype = DType::BFloat16;  // fp16 is modelled as bf16 (same bytes and peak)
  // Fixed when set; enumerated otherwise.
  std::optional<int> tp, dp;
  std::optional<std::int64_t> micro_batch;
  std::optional<bool> sequence_parallel;
  std::optional<cost::Recompute> recompute;
  // The DP gradient all_reduce overlapped with the last micro-batch's backward (Megatron-LM's
  // --overlap-grad-reduce). Off by default: tensorpar's DistributedDataParallel reduces after
  // backward, and so does Megatron-LM unless asked.
  bool overlap_dp = false;
  // The model's dropout (attention scores and the residual stream). 0.1 is the GPT recipes'
  // and Megatron-LM's default (--attention-dropout, --hidden-dropout), what published runs
  // used; `tensorpar train` defaults to 0, so predicting its default run takes dropout 0.
  // Dropout is memory-bound work on the s x s scores: at s = 2048 it is 10-20% of a step.
  double dropout = 0.1;
  bool loss_parallel = true;  // vocab-parallel cross-entropy when tp > 1
  // Bytes per gradient element in memory and in the DP all_reduce; 0: the training dtype's.
  // Megatron-LM keeps 16-bit training's gradients in fp32 (4).
  int gradient_element_bytes = 0;
};

struct PlanResult {
  cost::ParallelConfig config;  // tp, dp, micro_batch, sequence_parallel, recompute, dtype
  std::int64_t micro_batches = 1;
  cost::IterationEstimate time;
  cost::MemoryBreakdown memory;      // the model's (memory_model.h)
  double shape_only_peak_bytes = 0;  // the shape-only run's high-water mark, for comparison
  bool fits = true;
  double model_flops = 0;  // model_flops(query.model, global_batch) below
  double mfu = 0;          // model FLOPs (72 factor, no recompute) / (iteration x gpus x peak)
  double iteration_s() const { return time.total_s(); }
};

// Usage errors (tp not dividing the heads, gpus != tp x dp, ...) throw cli-independent
// std::invalid_argument naming the flag ("--tp 5 does not divide --heads 64").
std::vector<PlanResult> plan(const PlanQuery& query);

// One plan's iteration again, with its predicted timeline and its collectives in order
// (estimate_iteration's with_timeline), for `tensorpar plan --trace`.
cost::IterationEstimate plan_timeline(const PlanQuery& query, const cost::ParallelConfig& config);

// FLOPs of one iteration of the reference Transformer, counted as Narayanan et al. 2021 do
// without recompute, for the work the model really does: 72 B s l h^2 (1 + s / (6 h)) for the
// layers (the attention scores over all s x s positions: the causal mask is applied after the
// full product) and 6 B s h V for the tied output projection (forward 2, backward 4; the facts'
// V / (16 l h) term folds it in with the 96 factor of full recompute, which is also 6 B s h V).
double model_flops(const cost::ModelShape& model, std::int64_t global_batch);

}  // namespace tensorpar::plan
