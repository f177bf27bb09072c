#pragma once
// The redistributions a forward on DTensors ran, read back from its autograd graph, so that a
// check can compare the collectives it observed with the ones the sharding rules promise.
//
// apply_op (core/ops/op.h) redistributes every input that differs from the rule's plan and
// records that as a RedistributeBackward node in front of the op's node. The plan itself is not
// public, so it is recovered through backward's placement rules (docs/autograd.md), feeding
// gradients of zeros:
//   - an op node whose output gradient arrives as S(d) for an S(d) output, R for a Partial one
//     and P for a Replicate one returns, per mesh dim, S(d) for an input the rule ran as S(d),
//     P for one it ran as R and R for one it ran as P: inverted, the plan's input placements;
//   - a redistribute node given an all-Partial gradient returns it in the source placements
//     (S by reduce_scatter, R by all_reduce, P as it is).
// Example, 3 ranks: linear(x [S(1)], w [S(0)]) runs x as [R] and w as it is (the output is
// S(1)), so the graph is
//   linearBackward -> RedistributeBackward -> x's leaf,   linearBackward -> w's leaf
// and the trace is {[S(1)] -> [R]}.
//
// Each node's apply() runs once on zeros before the real backward, which relies on apply()
// leaving the saved tensors in place (release_saved() is what drops them).
// Only differentiable inputs appear in the graph: indices and targets that the rule
// redistributes are not traced. The probe issues collectives of its own (on every rank alike)
// and must run outside the CommDebugMode being checked, before backward.
#include <string>
#include <vector>

#include "core/placement.h"
#include "core/tensor.h"

namespace tensorpar::sim {

struct TracedRedistribution {
  Placements source;
  Placements target;
  Placements consumer_output;  // the output placements of the op that consumed the result
};

struct ForwardTrace {
  int op_nodes = 0;  // ops recorded on DTensors
  std::vector<TracedRedistribution> redistributions;
  Placements root_output;    // placements of `out`
  bool leaf_reused = false;  // a leaf feeds more than one edge (its gradients get summed)
  std::string problem;       // non-empty when the graph could not be read
};

// The trace of the graph that produced `out` (a DTensor that requires grad). `leaves` are the
// differentiable DTensor inputs; the placements recovered for edges into them are checked
// against theirs.
ForwardTrace trace_forward(const Tensor& out, const std::vector<Tensor>& leaves);

}  // namespace tensorpar::sim
