#pragma once
// PlanTrace: a scope that records the sharding plan of every op run on DTensors on this thread.
//
//   PlanTrace trace;
//   Tensor y = relu(x);                      // x: [P] on 4 ranks
//   trace.records()[0]                       // {op "relu", inputs {[P] -> [R]}, outputs {[R]}}
//
// apply_op (core/ops/op.h) adds one PlanRecord per op on DTensors, after the op ran: for each
// input the placements it arrived in and the ones the local forward ran on (the rule's target,
// reached by one redistribute of the greedy plan in core/redistribute.h when they differ), and
// the output placements. With them, the collectives an op's forward promises are
// sum over inputs of plan_collective_count(actual -> planned), and its backward follows from
// docs/autograd.md's table. Ops on plain tensors and the DTensor API (redistribute, from_local,
// to_local) are not recorded.
//
// Scopes belong to the rank context (core/base/rank_context.h; a sim rank is a thread with its
// own) and nest: every active scope of the context receives each record, so an inner scope sees
// its own ops and the outer one sees all of them. Scopes must end in reverse order of creation
// (they are meant to live on the stack). With no scope active, apply_op pays one check of the
// context's slot.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ops/op.h"
#include "core/dtensor/placement.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

// Which tensor a record refers to: equal only for the same tensor (never for a later one that
// reuses the memory of a freed one), and it does not keep the tensor alive. Compare with
// same_tensor(), order with std::owner_less<TensorRef>.
using TensorRef = std::weak_ptr<const TensorImpl>;
bool same_tensor(const TensorRef& ref, const Tensor& tensor);

struct PlannedInput {
  // The placements the input arrived in; nullopt for an undefined (absent optional) input and
  // for a plain tensor given as an index input (read as Replicate).
  std::optional<Placements> actual;
  // The placements the local forward ran on: the rule's target, or the input's own where the
  // rule keeps it; empty for an undefined input.
  Placements planned;
  bool index = false;          // an index input (indices, targets, class weights): no gradient
  bool requires_grad = false;  // the input as given required grad
  TensorRef tensor;            // the input as given (before any redistribution)
};

struct PlanRecord {
  std::string op;  // OpDef::name()
  Shape mesh_shape;
  std::vector<PlannedInput> inputs;
  std::vector<Placements> outputs;
  std::vector<TensorRef> output_tensors;
  bool recorded_for_backward = false;  // autograd recorded the op (grad mode, an input needing it)

  // Whether input i was redistributed before the local forward (its placements differ from the
  // planned ones; a plain input counts as Replicate).
  bool redistributed(std::size_t i) const;
};

class PlanTrace {
 public:
  PlanTrace();
  ~PlanTrace();
  PlanTrace(const PlanTrace&) = delete;
  PlanTrace& operator=(const PlanTrace&) = delete;

  // Whether any scope is active in this rank context.
  static bool active();
  // Called by apply_op after an op ran on DTensors: `inputs` as given to it, `shard` the
  // context of the local forward (the specs it ran on), `outputs` the DTensors it returns.
  static void record(const OpDef& op, const std::vector<Tensor>& inputs, const ShardContext& shard,
                     const std::vector<Tensor>& outputs, bool recorded_for_backward);

  const std::vector<PlanRecord>& records() const { return records_; }
  void clear() { records_.clear(); }

 private:
  std::vector<PlanRecord> records_;
  PlanTrace* previous_ = nullptr;
};

}  // namespace tensorpar
