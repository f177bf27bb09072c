#include "sim/op_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/ops/plan_trace.h"
#include "core/tensor/philox.h"
#include "core/dtensor/redistribute.h"
#include "sim/rule_promise.h"
#include "sim/world.h"

namespace tensorpar::sim {

namespace {

constexpr std::size_t kMaxRuleCases = 400;

std::vector<Placement> candidates(std::int64_t ndim, bool differentiable) {
  std::vector<Placement> out = {Replicate()};
  for (std::int64_t d = 0; d < ndim; ++d) out.push_back(Shard(d));
  if (differentiable) out.push_back(Partial());
  return out;
}

std::vector<Placements> all_placements(std::int64_t ndim, bool differentiable, std::size_t mesh_ndim) {
  std::vector<Placements> out = {{}};
  for (std::size_t m = 0; m < mesh_ndim; ++m) {
    std::vector<Placements> next;
    for (const Placements& prefix : out) {
      for (const Placement& p : candidates(ndim, differentiable)) {
        Placements ps = prefix;
        ps.push_back(p);
        next.push_back(ps);
      }
    }
    out = std::move(next);
  }
  return out;
}

struct Reference {
  Tensor out;
  std::vector<Tensor> grads;
  Tensor weights;
};

// The case's inputs as fresh leaves on `device`, the differentiable ones requiring grad.
std::vector<Tensor> leaves_of(const OpCase& op, Device device) {
  std::vector<Tensor> leaves;
  for (const OpInput& in : op.inputs) {
    Tensor t = in.value.detach().to(device).clone();
    if (in.differentiable) t.requires_grad_();
    leaves.push_back(t);
  }
  return leaves;
}

// The single-device run of `op` on `device`: its output, and the input gradients of
// loss = sum(out * w), w drawn by Generator(99) (Philox, so the same on every device).
Reference reference(const OpCase& op, Device device) {
  DeviceGuard on(device);
  std::vector<Tensor> leaves = leaves_of(op, device);
  Reference r;
  r.out = op.fn(leaves);
  Generator gen(99);
  r.weights = randn(r.out.shape(), gen, DType::Float64, device);
  sum(r.out * r.weights).backward();
  for (const Tensor& t : leaves) r.grads.push_back(t.grad());
  r.out = r.out.detach();
  return r;
}

// Folds into `result` how `got` (the device's) differs from `want` (the CPU's): bitwise when
// `exact`, else relative to max(1, max |want|) against `tolerance`.
void compare_tensor(const std::string& what, const Tensor& want, const Tensor& got, bool exact,
                    double tolerance, DeviceComparison& result) {
  auto fail = [&](std::string why) {
    if (result.message.empty()) result.message = what + " " + why;
  };
  if (want.defined() != got.defined()) {
    result.max_rel_err = std::numeric_limits<double>::quiet_NaN();
    return fail(got.defined() ? "exists on the device only" : "is missing on the device");
  }
  if (!want.defined()) return;
  if (got.shape() != want.shape() || got.dtype() != want.dtype()) {
    result.max_rel_err = std::numeric_limits<double>::quiet_NaN();
    return fail(cat("is ", shape_str(got.shape()), " ", dtype_name(got.dtype()), " on the device, ",
                    shape_str(want.shape()), " ", dtype_name(want.dtype()), " on the cpu"));
  }
  const Tensor a = want.to(cpu()), b = got.to(cpu());
  const double scale = std::max(1.0, max_abs_diff(a, zeros(a.shape(), a.dtype(), cpu())));
  const double err = max_abs_diff(a, b) / scale;
  // NaN (a NaN on one side) propagates: once unmeasurable, the comparison stays so.
  if (std::isnan(err) || std::isnan(result.max_rel_err)) {
    result.max_rel_err = std::numeric_limits<double>::quiet_NaN();
  } else {
    result.max_rel_err = std::max(result.max_rel_err, err);
  }
  if (exact) {
    if (std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) != 0) {
      fail(cat("differs from the cpu in its bits (", err,
               " relative), where bitwise equality is required"));
    }
  } else if (!(err <= tolerance)) {
    fail(cat("differs from the cpu by ", err, " (relative), tolerance ", tolerance));
  }
}

bool close(const Tensor& a, const Tensor& b, double tol) {
  return a.shape() == b.shape() && allclose(a, b, tol, tol);
}

Tensor data(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::Float64);
}

}  // namespace

const std::vector<Shape>& standard_meshes() {
  static const std::vector<Shape> meshes = {{2}, {3}, {4}, {2, 2}};
  return meshes;
}

RuleResult check_sharding_rule(const OpCase& op, const Shape& mesh_shape, double tolerance) {
  const Reference ref = reference(op, current_device());
  std::vector<std::vector<Placements>> choices;
  for (const OpInput& in : op.inputs) {
    choices.push_back(all_placements(in.value.dim(), in.differentiable, mesh_shape.size()));
  }
  // Large matrices (many inputs on a 2-D mesh) are sampled with an even stride.
  std::size_t total = 1;
  for (const auto& c : choices) total *= c.size();
  const std::size_t stride = std::max<std::size_t>(1, total / kMaxRuleCases);
  std::size_t position = 0;
  std::vector<std::size_t> index(op.inputs.size(), 0);
  RuleResult result;
  const int world = static_cast<int>(numel(mesh_shape));
  std::mutex mutex;
  for (;; ++position) {
    if (position % stride != 0) {
      std::size_t k = 0;
      while (k < index.size() && ++index[k] == choices[k].size()) index[k++] = 0;
      if (k == index.size()) break;
      continue;
    }
    std::vector<Placements> combo;
    for (std::size_t i = 0; i < op.inputs.size(); ++i) combo.push_back(choices[i][index[i]]);
    std::string label = op.name + " on mesh " + shape_str(mesh_shape) + " with";
    for (const Placements& p : combo) label.append(" ").append(placements_str(p));
    std::vector<std::string> problems, count_problems;
    bool backward_exact = false;
    try {
      run(world, [&](int rank) {
        DeviceMesh mesh(mesh_shape);
        std::vector<Tensor> xs, leaves;
        for (std::size_t i = 0; i < op.inputs.size(); ++i) {
          DTensor d = distribute_tensor(op.inputs[i].value, mesh, combo[i]);
          if (op.inputs[i].differentiable) {
            d.requires_grad_();
            leaves.push_back(d);
          }
          xs.push_back(d);
        }
        // Every rank runs the same collectives whatever it finds, so nothing below returns early.
        std::string problem, count_problem;
        Tensor out;
        std::vector<PlanRecord> records;
        std::int64_t forward_count = 0, backward_count = 0;
        {
          CommDebugMode mode;
          PlanTrace trace;
          out = op.fn(xs);
          forward_count = mode.count(CommPhase::Forward);
          records = trace.records();
        }
        if (!out.is_distributed()) {
          problem = "the output is not a DTensor";
        } else {
          const Tensor full = DTensor(out).full_tensor();
          if (!close(full, ref.out, tolerance)) {
            problem = cat("forward differs by ", max_abs_diff(full, ref.out));
          }
          const Promise p = promise_of(records, mesh_shape, leaves, out);
          const DTensor seed =
              distribute_tensor(ref.weights, mesh, replicate_partials(DTensor(out).placements()));
          {
            CommDebugMode mode;
            backward({out}, {seed});
            backward_count = mode.count(CommPhase::Backward);
          }
          for (std::size_t i = 0; i < op.inputs.size(); ++i) {
            if (!op.inputs[i].differentiable) continue;
            const Tensor g = xs[i].grad();
            if (!g.defined()) {
              if (problem.empty()) problem = cat("input ", i, " has no gradient");
              continue;
            }
            const Tensor gfull = DTensor(g).full_tensor();
            if (!close(gfull, ref.grads[i], tolerance) && problem.empty()) {
              problem = cat("gradient of input ", i, " (", placements_str(DTensor(g).placements()),
                            ") differs by ", max_abs_diff(gfull, ref.grads[i]));
            }
          }
          if (forward_count != p.forward) {
            count_problem =
                cat("forward issued ", forward_count, " collectives, the plan promises ", p.forward,
                    p.forward_steps.empty() ? "" : ": ", p.forward_steps);
          } else if (p.backward_exact && backward_count != p.backward) {
            count_problem =
                cat("backward issued ", backward_count, " collectives, the plan promises ",
                    p.backward, p.backward_steps.empty() ? "" : ": ", p.backward_steps);
          } else if (!p.backward_exact && p.forward_steps.empty() && backward_count != 0) {
            count_problem = cat("backward issued ", backward_count,
                                " collectives although the forward redistributed nothing");
          }
          if (rank == 0) backward_exact = p.backward_exact;
        }
        std::lock_guard lock(mutex);
        if (!problem.empty()) problems.push_back(cat("rank ", rank, ": ", problem));
        if (!count_problem.empty())
          count_problems.push_back(cat("rank ", rank, ": ", count_problem));
      });
    } catch (const std::exception& e) {
      problems.push_back(e.what());
    }
    ++result.cases;
    if (backward_exact) ++result.backward_exact;
    if (!problems.empty()) ++result.failures;
    if (!count_problems.empty()) ++result.count_failures;
    for (const auto* found : {&problems, &count_problems}) {
      if (!found->empty() && result.messages.size() < 5) {
        result.messages.push_back(label + ": " + found->front());
      }
    }
    std::size_t k = 0;
    while (k < index.size() && ++index[k] == choices[k].size()) index[k++] = 0;
    if (k == index.size()) break;
  }
  return result;
}

double gradcheck_max_rel_err(const OpCase& op, double eps) {
  const Reference ref = reference(op, current_device());
  double worst = 0;
  for (std::size_t i = 0; i < op.inputs.size(); ++i) {
    if (!op.inputs[i].differentiable) continue;
    const Tensor base = op.inputs[i].value.detach().clone();
    const std::vector<double> analytic = to_vector<double>(ref.grads[i]);
    std::vector<double> values = to_vector<double>(base);
    for (std::size_t k = 0; k < values.size(); ++k) {
      auto loss_at = [&](double delta) {
        std::vector<double> v = values;
        v[k] += delta;
        std::vector<Tensor> xs;
        for (std::size_t j = 0; j < op.inputs.size(); ++j) {
          xs.push_back(j == i ? from_vector<double>(v, base.shape()) : op.inputs[j].value);
        }
        NoGradGuard no_grad;
        return sum(op.fn(xs) * ref.weights).item();
      };
      const double numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
      const double err = std::abs(numeric - analytic[k]) / std::max(1.0, std::abs(numeric));
      worst = std::max(worst, err);
    }
  }
  return worst;
}

DeviceComparison compare_with_cpu(const OpCase& op, Device device, double tolerance) {
  DeviceComparison result;
  Reference on_cpu, on_device;
  for (auto [where, run_on] : {std::pair{&on_cpu, cpu()}, std::pair{&on_device, device}}) {
    try {
      *where = reference(op, run_on);
    } catch (const std::exception& e) {
      result.message = cat("on ", device_str(run_on), ": ", e.what());
      return result;
    }
  }
  result.max_rel_err = 0;
  compare_tensor("forward", on_cpu.out, on_device.out, op.vs_cpu != CpuMatch::Close, tolerance,
                 result);
  for (std::size_t i = 0; i < op.inputs.size(); ++i) {
    if (!op.inputs[i].differentiable) continue;
    compare_tensor(cat("gradient of input ", i), on_cpu.grads[i], on_device.grads[i],
                   op.vs_cpu == CpuMatch::Exact, tolerance, result);
  }
  result.ok = result.message.empty();
  return result;
}

const std::vector<OpCase>& standard_op_cases() {
  using V = std::vector<Tensor>;
  static const std::vector<OpCase> cases = [] {
    const Tensor idx = from_vector<std::int64_t>({0, 6, 2, 3, 6, 1, 4, 5, 0, 2}, {2, 5});
    const Tensor target = from_vector<std::int64_t>({0, 3, 2, 1, 3}, {5});
    const Tensor target_ignored = from_vector<std::int64_t>({0, -100, 2, 1, 3}, {5});
    std::vector<OpCase> c;
    c.push_back({"add", [](const V& x) { return x[0] + x[1]; }, {{data({5, 3}, 1), true}, {data({5, 3}, 2), true}}});
    c.push_back({"sub_broadcast", [](const V& x) { return x[0] - x[1]; }, {{data({5, 3}, 1), true}, {data({3}, 2), true}}});
    c.push_back({"mul_broadcast", [](const V& x) { return x[0] * x[1]; }, {{data({5, 3}, 1), true}, {data({3}, 2), true}}});
    c.push_back({"div", [](const V& x) { return x[0] / (exp(x[1]) + 1.0); }, {{data({7, 3}, 1), true}, {data({7, 3}, 2), true}}});
    c.push_back({"scalar_ops", [](const V& x) { return (x[0] * 2.0 - 1.0) / 3.0 + (2.0 - x[0]); }, {{data({5, 3}, 3), true}}});
    c.push_back({"relu", [](const V& x) { return relu(x[0]); }, {{data({5, 6}, 3), true}}});
    c.push_back({"gelu_tanh", [](const V& x) { return gelu(x[0], "tanh"); }, {{data({5, 6}, 3), true}}});
    c.push_back({"gelu_exact", [](const V& x) { return gelu(x[0]); }, {{data({5, 6}, 3), true}}});
    c.push_back({"silu", [](const V& x) { return silu(x[0]); }, {{data({5, 6}, 3), true}}});
    c.push_back({"exp_log", [](const V& x) { return log(exp(x[0]) + 1.0); }, {{data({5, 6}, 3), true}}});
    c.push_back({"sqrt_rsqrt", [](const V& x) { return sqrt(x[0] * x[0] + 1.0) + rsqrt(x[0] * x[0] + 2.0); }, {{data({5, 6}, 3), true}}});
    c.push_back({"pow", [](const V& x) { return pow(x[0], 3.0); }, {{data({5, 6}, 3), true}}});
    c.push_back({"linear", [](const V& x) { return linear(x[0], x[1], x[2]); }, {{data({5, 6}, 1), true}, {data({7, 6}, 2), true}, {data({7}, 3), true}}});
    c.push_back({"linear_3d", [](const V& x) { return linear(x[0], x[1]); }, {{data({2, 5, 6}, 1), true}, {data({7, 6}, 2), true}}});
    c.push_back({"matmul_batched", [](const V& x) { return matmul(x[0], x[1]); }, {{data({3, 5, 4}, 1), true}, {data({3, 4, 6}, 2), true}}});
    c.push_back({"softmax", [](const V& x) { return softmax(x[0], 1); }, {{data({5, 7}, 4), true}}});
    c.push_back({"log_softmax", [](const V& x) { return log_softmax(x[0], 0); }, {{data({5, 7}, 4), true}}});
    c.push_back({"layer_norm", [](const V& x) { return layer_norm(x[0], x[1], x[2]); }, {{data({3, 5, 6}, 4), true}, {data({6}, 5), true}, {data({6}, 6), true}}});
    c.push_back({"layer_norm_no_affine", [](const V& x) { return layer_norm(x[0]); }, {{data({5, 6}, 4), true}}});
    c.push_back({"rms_norm", [](const V& x) { return rms_norm(x[0], x[1]); }, {{data({3, 5, 6}, 4), true}, {data({6}, 5), true}}});
    c.push_back({"embedding", [](const V& x) { return embedding(x[0], x[1]); }, {{data({7, 5}, 7), true}, {idx, false}}, CpuMatch::ExactForward});
    c.push_back({"dropout", [](const V& x) { manual_seed(7); return dropout(x[0], 0.4); }, {{data({5, 7}, 3), true}}});
    c.push_back({"reshape_transpose", [](const V& x) { return transpose(reshape(x[0], {2, 3, 4, 2}), 1, 2); }, {{data({2, 3, 8}, 9), true}}, CpuMatch::Exact});
    c.push_back({"permute", [](const V& x) { return permute(x[0], {2, 0, 1}); }, {{data({2, 3, 5}, 9), true}}, CpuMatch::Exact});
    c.push_back({"cat", [](const V& x) { return cat({x[0], x[1]}, 0); }, {{data({3, 5}, 11), true}, {data({2, 5}, 12), true}}, CpuMatch::Exact});
    c.push_back({"cat_last_dim", [](const V& x) { return cat({x[0], x[1]}, -1); }, {{data({5, 2}, 13), true}, {data({5, 3}, 14), true}}, CpuMatch::Exact});
    c.push_back({"sum_mean", [](const V& x) { return sum(x[0], 1) + mean(x[0], 1) + mean(x[0], std::vector<std::int64_t>{0, 1}); }, {{data({5, 7}, 8), true}}});
    c.push_back({"max", [](const V& x) { return max(x[0], 1) + max(x[0]); }, {{data({5, 7}, 8), true}}});
    c.push_back({"attention_causal", [](const V& x) {
                   return scaled_dot_product_attention(x[0], x[1], x[2], {.is_causal = true});
                 }, {{data({2, 3, 5, 4}, 1), true}, {data({2, 3, 5, 4}, 2), true}, {data({2, 3, 5, 4}, 3), true}}});
    c.push_back({"cross_entropy", [](const V& x) { return cross_entropy(x[0], x[1]); }, {{data({5, 4}, 10), true}, {target, false}}});
    c.push_back({"cross_entropy_weighted_ignore_sum", [](const V& x) {
                   return cross_entropy(x[0], x[1], {.weight = x[2], .reduction = Reduction::Sum});
                 }, {{data({5, 4}, 10), true}, {target_ignored, false}, {data({4}, 3) * 0.1 + 1.0, false}}});
    c.push_back({"nll_loss_none", [](const V& x) {
                   return nll_loss(log_softmax(x[0], 1), x[1], {.reduction = Reduction::None});
                 }, {{data({5, 4}, 10), true}, {target, false}}});
    return c;
  }();
  return cases;
}

}  // namespace tensorpar::sim
