#pragma once
// One tensor-parallel training step of the reference Transformer (core/nn/transformer.h) under
// its TP plan (styles/transformer_plan.h), as `tensorpar train` runs it, and the same step run
// shape-only (docs/shape_only.md): on the meta device over the shape-only communicator, at world
// sizes and model dimensions no machine here could hold, giving each rank's kernels with their
// FLOPs and bytes, its collectives and its memory high-water mark.
//
//   std::vector<sim::ShapeOnlyRank> ranks = shape_only_step(gpt3_175b(32));
//   ranks[0].collectives->size();   // 6 all_reduces per layer (2 forward, 4 backward), 5 more
//   ranks[0].peak_bytes;            // the step's high-water mark on rank 0
//
// The reference Transformer is GPT-2 shaped (LayerNorm, GELU MLP of 4 x dim, learned positions,
// multi-head attention, tied embeddings); "Llama-2 70B dims" means its width, heads, depth,
// vocab and sequence on this architecture, not SwiGLU or grouped-query attention.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/nn/transformer.h"
#include "sim/shape_only_run.h"

namespace tensorpar {

struct ShapeOnlyStepConfig {
  int world = 4;  // tensor-parallel degree: without dp, a 1-D mesh over the whole world
  // Data-parallel degree. 0: none (the 1-D mesh above). d >= 1: the 2-D mesh ("dp", "tp") of
  // shape [d, world] over d x world ranks, as `tensorpar train --mesh dp=d,tp=world` runs it:
  // the plan over mesh["tp"], the batch split over mesh["dp"] (torch.chunk rows, each rank's loss
  // scaled by data_parallel_batch's loss_scale) and DistributedDataParallel's bucketed gradient
  // all_reduces over mesh["dp"] after backward (styles/data_parallel.h).
  int dp = 0;
  nn::ModelArgs model;     // dims, depth, dropout, dtype; model.max_seq_len >= seq
  std::int64_t batch = 1;  // sequences per step
  std::int64_t seq = 16;   // tokens per sequence
  bool sequence_parallel = false;
  bool loss_parallel = false;
  std::string optimizer = "adam";  // "adam" or "sgd"
  // Run one rank per class of ranks with the same local shapes (transformer_rank_classes) and
  // report it for the whole class; false runs every rank.
  bool distinct_ranks = true;
  int parallelism = 0;  // rank threads at once (sim::ShapeOnlyOptions)
  // Ranks in all: world, or dp x world.
  int ranks() const { return dp > 0 ? dp * world : world; }
};

// Published model dimensions at `world` ranks, batch 1, no dropout, float32, `layers` of the
// model's depth (all by default). GPT-3 175B: dim 12288, 96 heads, 96 layers, vocab 50257,
// sequence 2048. Llama-2 70B (on the reference architecture, see above): dim 8192, 64 heads, 80
// layers, vocab 32000, sequence 4096.
ShapeOnlyStepConfig gpt3_175b(int world, std::int64_t layers = 96);
ShapeOnlyStepConfig llama2_70b(int world, std::int64_t layers = 80);

// The step on this rank, on the current device and over the current world: builds the model,
// parallelizes it over DeviceMesh({c.world}, {"tp"}) (with c.dp: over mesh["tp"] of
// DeviceMesh({c.dp, c.world}, {"dp", "tp"}), wrapped in DistributedDataParallel over
// mesh["dp"]), makes the optimizer, then calls on_phase("forward") and runs the forward pass and
// the mean cross-entropy of all-zero tokens and targets (this dp rank's rows; under
// loss_parallel() when asked), on_phase("backward"), backward() and the data-parallel gradient
// reduction, on_phase("optimizer"), the optimizer step and zero_grad. The same code runs on every
// device and backend; token values matter to no shape.
void transformer_tp_step(const ShapeOnlyStepConfig& c,
                         const std::function<void(std::string_view phase)>& on_phase);

// For each rank, the lowest rank with the same local shapes under the Transformer plan: ranks
// whose torch.chunk shards of every extent the plan shards (vocab, max_seq_len, dim, 4 x dim,
// seq) are equal. For world 8 and every extent divisible by 8, all ranks map to 0. With c.dp,
// ranks of the 2-D mesh whose tp coordinates are in one class and whose dp coordinates hold the
// same number of batch rows: dp 3, tp 2, batch 8 (rows 3, 3, 2) gives {0, 0, 0, 0, 4, 4}.
std::vector<int> transformer_rank_classes(const ShapeOnlyStepConfig& c);

// transformer_tp_step shape-only at c.ranks() ranks (sim::run_shape_only): per rank, the step's
// kernels (phase "forward", "backward" or "optimizer"), its collectives and its memory
// high-water mark (set-up excluded: recording restarts at on_phase("forward")). A rank reported
// through its class's representative gets the representative's collectives with each group
// replaced by its own group of the same mesh dim (on a 2-D mesh the representative's tp and dp
// groups are not the rank's).
std::vector<sim::ShapeOnlyRank> shape_only_step(const ShapeOnlyStepConfig& c);

}  // namespace tensorpar
