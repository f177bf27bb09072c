#pragma once
// How a differentiable op is defined once and runs on plain tensors and on DTensors.
//
// An op is an OpDef: a local forward on dense tensors, its backward, and a sharding rule.
//
//   plain inputs:  forward(locals) -> outputs; recorded as an OpNode when grad is needed.
//   DTensors:      rule(input specs) -> ShardingPlan {input targets, output placements/shapes}
//                  (cached per rank context by op, rule attributes, mesh shape, placements
//                  and shapes); inputs not matching their target are redistributed (recorded
//                  like any redistribute); forward(local tensors) -> local outputs,
//                  wrapped as DTensors; recorded as a DistOpNode.
//
// Backward on DTensors runs the same local backward and gives each input gradient placements
// derived per mesh dim from the forward placements (see DistOpNode in op.cpp):
//   input Shard(d)  -> gradient Shard(d)
//   input Partial   -> gradient Replicate (the gradient of each summand is that of the sum)
//   input Replicate -> gradient Partial when the output on that mesh dim was sharded or Partial
//                      (each rank saw only its part of the uses), else Replicate, or Partial
//                      when the output's gradient itself arrived Partial (kept unreduced).
// Example: x (R) @ w (S(0))ᵀ gives y (S(-1)); in backward x's gradient is Partial, and the
// from_local that made x turns it into Replicate with one all_reduce (ColwiseParallel).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtensor/dtensor.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

struct ShardingPlan {
  std::vector<Placements> inputs;   // target placements per input (empty: plain or undefined)
  std::vector<Placements> outputs;  // placements of each output
  std::vector<Shape> output_shapes; // global shape of each output
  int variant = 0;                  // op-specific choice the local forward reads
};

// What the local forward of a distributed op may need (global positions, the plan).
struct ShardContext {
  std::vector<std::shared_ptr<const DTensorSpec>> inputs;  // after redistribution; null if plain
  std::vector<std::shared_ptr<const DTensorSpec>> outputs;
  std::vector<std::int64_t> coordinate;                    // this rank's mesh coordinate
  int variant = 0;
  // Global offset of this rank's shard of input i (or output i) along each dim.
  Shape input_offsets(std::size_t i) const;
  Shape output_offsets(std::size_t i) const;
};

struct OpContext {
  std::vector<Tensor> saved;
  std::vector<double> scalars;
  std::vector<std::int64_t> ints;
  Shape shape;                          // a saved shape (e.g. the input shape of a reduction)
  std::shared_ptr<const ShardContext> shard;  // set on the DTensor path
  bool recording = false;               // whether backward will run (save only then)
};

class OpDef {
 public:
  virtual ~OpDef() = default;
  virtual const char* name() const = 0;
  // Local computation on dense tensors; absent optional inputs are undefined tensors.
  virtual std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& inputs) const = 0;
  // Input gradients from output gradients (undefined output gradients mean zero); only the
  // inputs with need[i] must be produced.
  virtual std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                                       const std::vector<bool>& need) const = 0;
  // The sharding rule (inputs: the DTensor specs; null for plain or undefined inputs).
  virtual ShardingPlan sharding(const std::vector<const DTensorSpec*>& inputs) const;
  // Attributes the rule reads, appended to the plan cache key: an attribute the rule
  // reads but the key leaves out makes calls that differ only in it share a stale plan.
  virtual void rule_key(std::string& key) const {}
  // Inputs that carry no gradient (indices, targets). They may be plain tensors next to
  // DTensors, read as Replicate.
  virtual bool is_index_input(std::size_t i) const { return false; }
};

// Runs `op` on `inputs` (plain or distributed) and records it for autograd when needed.
std::vector<Tensor> apply_op(std::shared_ptr<const OpDef> op, std::vector<Tensor> inputs);

template <class Op>
Tensor apply_op1(Op op, std::vector<Tensor> inputs) {
  return apply_op(std::make_shared<const Op>(std::move(op)), std::move(inputs)).at(0);
}

// The rank context's sharding-plan cache keeps at most this many plans, dropping the least
// recently used one when full (shapes that vary, such as sequence lengths in inference,
// would otherwise grow it without bound).
inline constexpr std::size_t kShardingPlanCacheCapacity = 1024;
// Number of sharding decisions cached in this rank context (at most
// kShardingPlanCacheCapacity).
std::size_t sharding_cache_size();
void clear_sharding_cache();

}  // namespace tensorpar
