#pragma once
// Op checks a user runs to trust a build (`tensorpar check`) and the test suites reuse:
//   - a finite-difference gradient check of each differentiable op in float64, and
//   - the sharding-rule matrix: every combination of input placements (Replicate, Shard(d) for
//     each dim, Partial for differentiable inputs) on 1-D meshes of 2, 3 and 4 ranks and on a
//     2x2 mesh, with uneven sizes, comparing forward values and input gradients (for the output
//     gradient w, a fixed random tensor, i.e. of loss = sum(op(x) * w)) against the
//     single-device run, and the collectives of each case against the ones the rules promise
//     (op_check.cpp states what is promised).
//
//   for (const OpCase& c : standard_op_cases()) {
//     RuleResult r = check_sharding_rule(c, {2, 2});   // r.cases, r.failures, r.messages
//     double err = gradcheck_max_rel_err(c);
//   }
#include <functional>
#include <string>
#include <vector>

#include "core/ops/ops.h"

namespace tensorpar::sim {

struct OpInput {
  Tensor value;         // the global value: float64, or int64 for indices and targets
  bool differentiable;  // false for indices and targets
};

struct OpCase {
  std::string name;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<OpInput> inputs;
};

struct RuleResult {
  int cases = 0;
  int failures = 0;        // cases whose values or gradients differ (or that threw)
  int count_failures = 0;  // cases whose collective counts differ from the promised ones
  int backward_exact = 0;  // cases whose backward count was compared exactly (a graph of
                           // recorded ops only; the others are held to an invariant)
  std::vector<std::string> messages;  // one per failing case (at most a few kept)
};

// Every placement combination of the case's inputs on a mesh of `mesh_shape`, run on the sim
// (matrices of more than 400 combinations are sampled with an even stride).
RuleResult check_sharding_rule(const OpCase& op, const Shape& mesh_shape, double tolerance = 1e-11);
// The meshes of the standard matrix: {2}, {3}, {4}, {2, 2}.
const std::vector<Shape>& standard_meshes();
// Largest relative error between the analytic and the central-difference gradient over all
// elements of the differentiable inputs (relative to max(1, |numeric|)).
double gradcheck_max_rel_err(const OpCase& op, double eps = 1e-6);
// One case per differentiable op of core/ops.h, with odd shapes.
const std::vector<OpCase>& standard_op_cases();

}  // namespace tensorpar::sim
