#pragma once
// Building blocks of the per-op sharding rules (op.h). A rule sees the input specs and decides,
// mesh dim by mesh dim, what each input must be redistributed to and what the outputs are.
//
// The rules of the element-wise family, for one mesh dim (worked example: x [4, 6] S(0) plus a
// bias [6] R gives S(0); the bias stays R because dim 0 is broadcast for it):
//   some input Shard(d) on a non-broadcast dim    -> output Shard(d); inputs that have that dim
//                                                   are sharded on it (local chunk from R),
//                                                   the rest replicated
//   otherwise, a Partial(sum) input and a linear op -> output Partial:
//       add/sub: every input Partial (Replicate ones are partitioned, no communication);
//       mul: one Partial operand times Replicate; div: Partial numerator over Replicate
//   anything else                                  -> Partial inputs reduced, output Replicate
#include <cstdint>
#include <vector>

#include "core/dtensor/dtensor_spec.h"
#include "core/ops/op.h"

namespace tensorpar {

enum class Linearity {
  None,        // non-linear: Partial inputs are reduced first
  Unary,       // f(a + b) = f(a) + f(b) for one input (neg, scale, dropout, reshape...)
  Additive,    // add, sub: a sum of Partials is Partial
  Product,     // mul: exactly one Partial operand
  Numerator,   // div: a Partial numerator only
};

// All-Replicate for a mesh of `ndim` dims.
Placements replicate_all(std::size_t mesh_ndim);
// The mesh (ndim) of the first distributed input.
std::size_t mesh_ndim_of(const std::vector<const DTensorSpec*>& inputs);

// The element-wise rule with numpy broadcasting over the distributed inputs; null inputs
// (plain or undefined) are ignored. The output has the broadcast shape.
ShardingPlan pointwise_rule(const std::vector<const DTensorSpec*>& inputs, Linearity linearity,
                            const char* what);

// Placements with every Shard of a dim in `dims` and (when reduce_partial) every Partial
// turned into Replicate: what an op needs when it mixes elements along those dims.
Placements replicate_dims(const Placements& placements, const std::vector<std::int64_t>& dims,
                          bool reduce_partial);

// A rule for one-input ops that keep the shape: the input is brought to `target` and the output
// has the same placements and shape.
ShardingPlan same_as_input_rule(const DTensorSpec& input, Placements target,
                                std::size_t num_inputs);

}  // namespace tensorpar
