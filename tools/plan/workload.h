#pragma once
// The workload of one rank (cost::Workload: kernels and collectives in issue order per phase,
// gradient sizes) for a plan of the reference Transformer, read off shape-only runs of the real
// step (tools/shape_only, docs/shape_only.md) rank 0 of a tensor-parallel group runs.
//
// Four small runs serve every depth and micro-batch of one (tp, sequence parallel, dtype): 1 and
// 2 layers, at micro-batch 1 and 2. Per phase, the 2-layer run is the 1-layer run with one more
// layer's records inserted; the insertion point and block are found by matching the common
// prefix and suffix of the two runs, so an L-layer phase is
//
//   fixed head + (L - 1) x layer block + fixed tail      (the 1-layer run = head + tail)
//
// record by record. Every record's FLOPs, bytes and shape are affine in the micro-batch b (the
// sequence length is fixed), so the value at b is v(1) + (b - 1) (v(2) - v(1)). The result equals
// a direct shape-only run at L layers and micro-batch b (tests/tools/test_workload.cpp).
//
//   WorkloadFactory f(ModelShape{96, 12288, 96, 2048, 51200});
//   PlanWorkload w = f.build({.tp = 8, .micro_batch = 2, .sequence_parallel = true});
//   w.workload.forward.size();   // head + 96 layers of kernels and collectives
//
// Recompute (Megatron's, Korthikanti et al. 2022), added to the workload's recompute phase:
//   full       every layer's forward block (kernels and collectives) again, once per layer
//   selective  every layer's attention core again: from the score matmul (output [.., s, s])
//              through the scale, causal mask, softmax and dropout to the matmul with v
// The loss is vocab-parallel (loss_parallel) when tp > 1 unless the spec turns it off. fp16 is
// modelled as bf16 (same bytes).
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "core/cost/iteration_model.h"
#include "core/cost/memory_model.h"
#include "tools/shape_only/transformer_step.h"

namespace tensorpar::plan {

struct WorkloadSpec {
  int tp = 1;
  std::int64_t micro_batch = 1;
  bool sequence_parallel = false;
  DType dtype = DType::BFloat16;
  cost::Recompute recompute = cost::Recompute::None;
  bool loss_parallel = true;  // when tp > 1
};

struct PlanWorkload {
  cost::Workload workload;
  // The shape-only run's high-water mark (bytes; float32, no recompute: the real step keeps
  // every activation), extrapolated in layers and micro-batch like the records.
  double peak_bytes = 0;
};

// The shape-only step of `model` at `layers` layers for a spec (its recompute ignored).
ShapeOnlyStepConfig step_config(const cost::ModelShape& model, std::int64_t layers,
                                const WorkloadSpec& spec, double dropout);

// One shape-only run read as a workload, without extrapolation (recompute empty). The step runs
// in float32 (the model's initialisers draw nothing else); for a 16-bit `dtype` the forward and
// backward kernels are relabelled bf16 with half their bytes, every collective and gradient
// moves half the bytes, and the optimizer's kernels keep theirs (mixed-precision Adam moves 28
// bytes per parameter, as float32 Adam does). The high-water mark stays the float32 step's.
PlanWorkload run_workload(const ShapeOnlyStepConfig& config, DType dtype = DType::Float32);

// Builds workloads from the four runs above; the runs and their split are cached per (tp,
// sequence parallel, dtype, loss parallel), so each distinct key costs four shape-only runs once,
// and building any micro-batch and recompute from them costs only copying records. (The built
// workloads are not kept: a 96-layer one holds tens of thousands of records, and a plan enumeration
// uses each once.) Not thread-safe.
class WorkloadFactory {
 public:
  explicit WorkloadFactory(cost::ModelShape model, double dropout = 0.0);
  PlanWorkload build(const WorkloadSpec& spec);
  int shape_only_runs() const { return runs_; }  // how many shape-only runs it has made

  // A phase split into its fixed head, its layer block and its fixed tail.
  struct Split {
    std::vector<cost::WorkItem> head, layer, tail;
  };

 private:
  struct Base {
    Split phases[2][3];      // [micro-batch 1, 2][forward, backward, optimizer]
    double peak[2][2] = {};  // [micro-batch 1, 2][1 layer, 2 layers]
  };
  const Base& base(const WorkloadSpec& spec);

  cost::ModelShape model_;
  double dropout_;
  int runs_ = 0;
  std::map<std::tuple<int, bool, DType, bool>, Base> bases_;
};

// Where a 2-layer run's records hold one block more than the 1-layer run's: inserting the
// block at any record in [first, last] of the 1-layer run gives the 2-layer run (the head's last
// records may equal a layer's last ones). std::runtime_error when no point does.
struct LayerInsertion {
  std::size_t first = 0, last = 0, block = 0;
};
LayerInsertion layer_insertion(const std::vector<cost::WorkItem>& one_layer,
                               const std::vector<cost::WorkItem>& two_layers);
// The phase split at record `at` of the 1-layer run.
WorkloadFactory::Split split_layers(const std::vector<cost::WorkItem>& one_layer,
                                    const std::vector<cost::WorkItem>& two_layers, std::size_t at);

// The attention core of a layer's forward block (selective recompute's set), seq = s.
std::vector<cost::WorkItem> attention_core(const std::vector<cost::WorkItem>& layer_forward,
                                           std::int64_t seq);

}  // namespace tensorpar::plan
