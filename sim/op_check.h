#pragma once
// Op checks a user runs to trust a build (`tensorpar check`) and the test suites reuse:
//   - a finite-difference gradient check of each differentiable op in float64, and
//   - the sharding-rule matrix: every combination of input placements (Replicate, Shard(d) for
//     each dim, Partial for differentiable inputs) on 1-D meshes of 2, 3 and 4 ranks and on a
//     2x2 mesh, with uneven sizes, comparing forward values and input gradients (for the output
//     gradient w, a fixed random tensor, i.e. of loss = sum(op(x) * w)) against the
//     single-device run, and the collectives of each case against the ones the rules promise
//     (op_check.cpp states what is promised), and
//   - the comparison of a device's run of each op with the CPU's (compare_with_cpu): forward
//     value and input gradients, bitwise for the ops that only move data.
//
//   for (const OpCase& c : standard_op_cases()) {
//     RuleResult r = check_sharding_rule(c, {2, 2});   // r.cases, r.failures, r.messages
//     double err = gradcheck_max_rel_err(c);
//     DeviceComparison d = compare_with_cpu(c, standin_device());  // d.ok, d.max_rel_err
//   }
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/ops/ops.h"

namespace tensorpar::sim {

struct OpInput {
  Tensor value;         // the global value: float64, or int64 for indices and targets
  bool differentiable;  // false for indices and targets
};

// How a device's run of a case must match the CPU's run (compare_with_cpu). Data movement (a
// copy, a permutation, a concatenation, a row lookup) computes nothing, so every device must give
// the CPU's bits; arithmetic may round differently (another summation order, fused multiply-add)
// and is held to a tolerance relative to the CPU's values.
enum class CpuMatch {
  Close,         // arithmetic: max |device - cpu| / max(1, max |cpu|) <= tolerance, each tensor
  ExactForward,  // the forward moves data, bitwise; the backward accumulates, Close (embedding:
                 // a row lookup forward, a scatter-add of repeated indices backward)
  Exact,         // forward and backward move data, bitwise (cat, permute, transpose, reshape)
};

struct OpCase {
  std::string name;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<OpInput> inputs;
  CpuMatch vs_cpu = CpuMatch::Close;
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
// A device's run of a case against the CPU's, from the same global inputs (moved with .to) and
// the same output gradient w (of loss = sum(op(x) * w), as in the rule matrix).
struct DeviceComparison {
  bool ok = false;
  // The largest max |device - cpu| / max(1, max |cpu|) over the forward value and the gradient of
  // every differentiable input; NaN when a run threw or a tensor's shape or dtype differ.
  double max_rel_err = std::numeric_limits<double>::quiet_NaN();
  std::string message;  // the first failure: which tensor differs and how, or the run's error
};

// The tolerance of CpuMatch::Close for the float64 cases: a few hundred units in the last place
// of the largest value, room for another summation order, none for a wrong kernel.
inline constexpr double kDeviceVsCpuTolerance = 1e-12;

// Runs `op` single-device on `device` and on the CPU and compares them by op.vs_cpu. A run that
// throws is a failure whose message is the error, prefixed with the device it ran on:
//   compare_with_cpu(cases[i], standin_device())  -> {ok: true, max_rel_err: 0}
//   an op whose device kernel is off by 1e-9      -> {ok: false, max_rel_err: 1e-9,
//       message: "forward differs from the cpu by 1e-09 (relative), tolerance 1e-12"}
DeviceComparison compare_with_cpu(const OpCase& op, Device device,
                                  double tolerance = kDeviceVsCpuTolerance);

// One case per differentiable op of core/ops.h, with odd shapes.
const std::vector<OpCase>& standard_op_cases();

}  // namespace tensorpar::sim
