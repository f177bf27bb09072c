#include "sim/rule_promise.h"

#include <map>
#include <memory>
#include <set>

#include "core/dtensor/dtensor.h"
#include "core/base/error.h"
#include "core/dtensor/redistribute.h"

namespace tensorpar::sim {

namespace {

std::int64_t planned(const Shape& mesh, const Placements& from, const Placements& to) {
  return from == to ? 0 : plan_collective_count(mesh, plan_redistribute(mesh, from, to));
}

Placements gradient_back_to(const Placements& source, const Placements& g) {
  Placements out = source;
  for (std::size_t m = 0; m < out.size(); ++m) {
    if (out[m].is_partial() && !(g[m] == out[m])) out[m] = Replicate();
  }
  return out;
}

// The placements of the sum of two gradients of one tensor (accumulate_grads); false where two
// Shard dims meet, which would communicate in an order this walk does not model.
bool add_gradient(Placements& sum, const Placements& g) {
  for (std::size_t m = 0; m < sum.size(); ++m) {
    if (sum[m] == g[m] || sum[m].is_partial()) continue;
    if (g[m].is_partial() || sum[m].is_replicate()) {
      sum[m] = g[m];
    } else if (g[m].is_shard()) {
      return false;
    }
  }
  return true;
}


void add_step(std::int64_t& count, std::string& text, const Shape& mesh, const std::string& what,
              const Placements& from, const Placements& to) {
  if (from == to) return;
  count += planned(mesh, from, to);
  text += cat(text.empty() ? "" : ", ", what, " ", placements_str(from), " -> ", placements_str(to),
              " (", planned(mesh, from, to), ")");
}

using RefLess = std::owner_less<TensorRef>;

// The backward walk above; false when the graph holds something other than recorded ops.
bool promise_backward(const std::vector<PlanRecord>& records, const Shape& mesh,
                      const std::vector<Tensor>& leaves, const Tensor& out, Promise& p) {
  std::set<TensorRef, RefLess> produced, leaf_refs;
  for (const PlanRecord& r : records) {
    produced.insert(r.output_tensors.begin(), r.output_tensors.end());
  }
  for (const Tensor& t : leaves) leaf_refs.insert(TensorRef(t.impl()));
  std::map<TensorRef, Placements, RefLess> grads;
  auto deliver = [&](const TensorRef& t, const Placements& g) {
    if (leaf_refs.count(t)) return true;
    if (!produced.count(t)) return false;
    const auto [it, fresh] = grads.emplace(t, g);
    return fresh || add_gradient(it->second, g);
  };
  if (!deliver(TensorRef(out.impl()), replicate_partials(DTensor(out).placements()))) return false;
  for (std::size_t k = records.size(); k-- > 0;) {
    const PlanRecord& r = records[k];
    if (!r.recorded_for_backward) continue;
    std::vector<bool> replicas_partial(mesh.size(), false);
    bool any = false;
    for (std::size_t j = 0; j < r.outputs.size(); ++j) {
      const auto it = grads.find(r.output_tensors[j]);
      if (it == grads.end()) continue;
      any = true;
      const Placements& g = it->second;
      Placements want = g;
      for (std::size_t m = 0; m < mesh.size(); ++m) {
        const Placement& o = r.outputs[j][m];
        if (o.is_partial()) {
          want[m] = Replicate();
        } else if (o.is_shard()) {
          want[m] = o;
        } else if (g[m].is_shard()) {
          want[m] = Replicate();
        }
        replicas_partial[m] = replicas_partial[m] || !o.is_replicate() || g[m].is_partial();
      }
      add_step(p.backward, p.backward_steps, mesh, cat(r.op, " output ", j), g, want);
    }
    if (!any) continue;
    for (std::size_t i = 0; i < r.inputs.size(); ++i) {
      const PlannedInput& in = r.inputs[i];
      if (in.index || !in.requires_grad || in.planned.empty()) continue;
      Placements g;
      for (std::size_t m = 0; m < mesh.size(); ++m) {
        const Placement& t = in.planned[m];
        g.push_back(t.is_shard()          ? t
                    : t.is_partial()      ? Replicate()
                    : replicas_partial[m] ? Placement(Partial())
                                          : Replicate());
      }
      Placements back = g;
      if (r.redistributed(i) && in.actual) {
        back = gradient_back_to(*in.actual, g);
        add_step(p.backward, p.backward_steps, mesh, cat(r.op, " input ", i), g, back);
      }
      if (!deliver(in.tensor, back)) return false;
    }
  }
  return true;
}

}  // namespace

Placements replicate_partials(Placements ps) {
  for (Placement& p : ps) {
    if (p.is_partial()) p = Replicate();
  }
  return ps;
}

Promise promise_of(const std::vector<PlanRecord>& records, const Shape& mesh,
                   const std::vector<Tensor>& leaves, const Tensor& out) {
  Promise p;
  for (const PlanRecord& r : records) {
    for (std::size_t i = 0; i < r.inputs.size(); ++i) {
      const PlannedInput& in = r.inputs[i];
      if (!r.redistributed(i)) continue;
      const Placements actual = in.actual.value_or(Placements(mesh.size(), Replicate()));
      add_step(p.forward, p.forward_steps, mesh, cat(r.op, " input ", i), actual, in.planned);
    }
  }
  p.backward_exact = promise_backward(records, mesh, leaves, out, p);
  if (!p.backward_exact) {
    p.backward = 0;
    p.backward_steps.clear();
  }
  return p;
}

}  // namespace tensorpar::sim
