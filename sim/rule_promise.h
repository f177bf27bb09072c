#pragma once
// The collectives a rule-matrix case promises, from the sharding plans its forward recorded
// (core/ops/plan_trace.h); sim/op_check.cpp compares them with what CommDebugMode observed.
//
// A case's forward runs under a PlanTrace (core/ops/plan_trace.h): for every op on DTensors, the
// placements each input arrived in and the ones the rule ran it on.
//
// Forward. An input whose placements differ from its planned ones is redistributed once along
// the greedy plan of core/redistribute.h (a plain index input counts as Replicate), and no local
// forward communicates, so a case promises the sum over its records and their inputs, index
// inputs included, of plan_collective_count(actual -> planned), and nothing else.
// Example, 4 ranks: relu(x [P]) records [P] -> [R], one all_reduce.
//
// Backward, seeded with the output's gradient in the output's placements (a Partial read as
// Replicate). Walking the records from the last, each op's backward follows from its record and
// docs/autograd.md, per mesh dim, from the placements g its output gradient arrived in:
//   - g is brought to R for a P output, to S(d) for an S(d) output, to R for an R output that
//     got an S, and kept otherwise;
//   - an input planned as t gets S(d) for t S(d), R for t P, and for t R: P where an output is
//     S or P or an R output kept a P, else R;
//   - a redistributed input sends that gradient G back to its source s (a Partial s read as
//     Replicate unless G is that Partial);
// and the gradients of a tensor used several times add without communication: a tensor in S(d)
// only ever gets S(d), one in R or P gets R or P, and a Partial beside a Replicate stays Partial.
// The promise is the sum of those redistributions.
// Example, 2 ranks: linear(x [S(1)], w [S(0)]) runs x as [R] and gives [S(1)]; x's gradient is
// [P] and goes back to [S(1)]: one reduce_scatter.
// This needs a graph of recorded ops on the case's inputs only. Where something else took part
// (the DTensor API, a tensor made inside the case), what is checked is what the table implies for
// any graph: when the forward redistributed nothing, every gradient arrives in the placements its
// tensor wants, and the backward issues no collective.
#include <cstdint>
#include <string>
#include <vector>

#include "core/ops/plan_trace.h"
#include "core/dtensor/placement.h"
#include "core/tensor/shape.h"
#include "core/ops/ops.h"

namespace tensorpar::sim {

struct Promise {
  std::int64_t forward = 0;
  std::int64_t backward = 0;
  bool backward_exact = false;  // otherwise backward is promised only when nothing moved forward
  std::string forward_steps;
  std::string backward_steps;
};

// Each Partial read as Replicate: the placements a backward seed gets for an output.
Placements replicate_partials(Placements ps);

// `leaves` are the case's differentiable inputs, `out` its result.
Promise promise_of(const std::vector<PlanRecord>& records, const Shape& mesh,
                   const std::vector<Tensor>& leaves, const Tensor& out);

}  // namespace tensorpar::sim
