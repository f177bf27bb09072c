#include "sim/forward_trace.h"

#include <algorithm>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/autograd.h"
#include "core/dtensor.h"
#include "core/error.h"

namespace tensorpar::sim {

namespace {

struct OutputSpec {
  Placements placements;
  Shape shape;
  DType dtype = DType::Float64;
  Placements consumer_output;  // for a redistribute node: the output of the op it feeds
};

bool is_leaf(const Node& n) { return n.name() == "AccumulateGrad"; }
bool is_redistribute(const Node& n) { return n.name() == "RedistributeBackward"; }
bool is_dtensor_api(const Node& n) {
  return n.name() == "FromLocalBackward" || n.name() == "ToLocalBackward";
}

DTensor zeros_on(const DeviceMesh& mesh, const Placements& placements, const Shape& shape,
                 DType dtype) {
  const LocalShard shard = local_shard_of(shape, mesh.shape(), placements, *mesh.get_coordinate());
  return DTensor(zeros(shard.shape, dtype),
                 std::make_shared<const DTensorSpec>(DTensorSpec{mesh, placements, shape, dtype}));
}

// Swaps Replicate and Partial, keeping Shards: the output gradient that makes an op node return
// its input gradients as the plan's placements swapped the same way (header).
Placements swap_replicate_partial(const Placements& placements) {
  Placements out;
  for (const Placement& p : placements) {
    out.push_back(p.is_shard() ? p : p.is_partial() ? Replicate() : Partial());
  }
  return out;
}

std::vector<std::shared_ptr<Node>> reachable_consumers_first(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> nodes;
  std::unordered_set<const Node*> seen{root.get()};
  std::vector<std::shared_ptr<Node>> stack{root};
  while (!stack.empty()) {
    std::shared_ptr<Node> n = stack.back();
    stack.pop_back();
    nodes.push_back(n);
    for (const Edge& e : n->next_edges) {
      if (e.node && seen.insert(e.node.get()).second) stack.push_back(e.node);
    }
  }
  // A node is created after the nodes of its inputs, so consumers have larger numbers.
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& a, const auto& b) { return a->sequence_nr > b->sequence_nr; });
  return nodes;
}

}  // namespace

ForwardTrace trace_forward(const Tensor& out, const std::vector<Tensor>& leaves) {
  ForwardTrace trace;
  const DTensor root(out);
  trace.root_output = root.placements();
  const DeviceMesh& mesh = root.device_mesh();
  const Edge root_edge = gradient_edge(out);
  if (!root_edge.node) {
    trace.problem = "the output does not require grad";
    return trace;
  }
  std::unordered_map<const Node*, Placements> leaf_placements;
  for (const Tensor& t : leaves) {
    const Edge e = gradient_edge(t);
    if (e.node) leaf_placements[e.node.get()] = DTensor(t).placements();
  }
  std::map<std::pair<const Node*, std::uint32_t>, OutputSpec> outputs;
  outputs[{root_edge.node.get(), root_edge.input_nr}] =
      OutputSpec{root.placements(), root.shape(), root.dtype(), {}};
  std::unordered_map<const Node*, int> leaf_uses;

  // Records what the consumer recovered for the tensor behind edge `e`.
  auto note = [&](const Edge& e, OutputSpec spec) {
    if (!e.node) return;
    if (is_leaf(*e.node)) {
      ++leaf_uses[e.node.get()];
      const auto it = leaf_placements.find(e.node.get());
      if (it != leaf_placements.end() && !(it->second == spec.placements) &&
          trace.problem.empty()) {
        trace.problem = cat("a leaf in ", placements_str(it->second), " was read back as ",
                            placements_str(spec.placements));
      }
      return;
    }
    outputs.emplace(std::make_pair(e.node.get(), e.input_nr), std::move(spec));
  };

  NoGradGuard no_grad;
  for (const std::shared_ptr<Node>& node : reachable_consumers_first(root_edge.node)) {
    if (is_leaf(*node)) continue;
    const auto it = outputs.find({node.get(), 0});
    if (node->num_outputs != 1 || is_dtensor_api(*node) || it == outputs.end()) {
      trace.problem = cat("cannot read ", node->name(), " (", node->num_outputs, " outputs)");
      return trace;
    }
    const OutputSpec spec = it->second;
    if (is_redistribute(*node)) {
      const Placements all_partial(spec.placements.size(), Partial());
      const std::vector<Tensor> back =
          node->apply({zeros_on(mesh, all_partial, spec.shape, spec.dtype)});
      const Placements source = DTensor(back.at(0)).placements();
      trace.redistributions.push_back({source, spec.placements, spec.consumer_output});
      note(node->next_edges.at(0), OutputSpec{source, spec.shape, spec.dtype, {}});
      continue;
    }
    ++trace.op_nodes;
    const std::vector<Tensor> grads = node->apply(
        {zeros_on(mesh, swap_replicate_partial(spec.placements), spec.shape, spec.dtype)});
    for (std::size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.node) continue;
      if (i >= grads.size() || !grads[i].defined() || !grads[i].is_distributed()) {
        trace.problem = cat(node->name(), " gave no DTensor gradient for input ", i);
        return trace;
      }
      const DTensor g(grads[i]);
      note(e, OutputSpec{swap_replicate_partial(g.placements()), g.shape(), g.dtype(),
                         spec.placements});
    }
  }
  for (const auto& [leaf, uses] : leaf_uses) trace.leaf_reused = trace.leaf_reused || uses > 1;
  return trace;
}

}  // namespace tensorpar::sim
