#pragma once
// Reverse-mode automatic differentiation over plain tensors and DTensors.
//
//   Tensor w = randn({3, 2}, gen, DType::Float64).requires_grad_();
//   Tensor loss = sum(relu(matmul(x, w)));   // records two nodes: MatmulBackward, ReluBackward...
//   loss.backward();                          // w.grad() now holds d loss / d w
//
// The graph: every recorded op creates a Node whose `next_edges` point at the nodes that
// produced its inputs (or at a leaf's AccumulateGrad). backward() counts dependencies from the
// root, runs each node once all gradients for its outputs have arrived (summing gradients of a
// tensor used several times), accumulates into leaves' grad(), and releases saved tensors as it
// goes, so a step's activations are freed when backward returns.
//
// Gradients of DTensors are DTensors; adding two of them with different placements goes through
// accumulate_grads() below, which never communicates except to move between two Shard dims.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor/tensor.h"

namespace tensorpar {

struct Edge {
  std::shared_ptr<Node> node;  // null: the input needs no gradient
  std::uint32_t input_nr = 0;  // which of node's outputs-gradients this edge feeds
};

// One recorded operation (the backward function of an op).
class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // "ReluBackward", "RedistributeBackward", ...
  virtual std::string name() const = 0;
  // Given the gradients of this node's forward outputs (undefined where none arrived), returns
  // one gradient per forward input (undefined where not needed), in next_edges order.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) = 0;
  // Drops saved tensors after the node ran (unless the graph is retained).
  virtual void release_saved() {}

  std::uint32_t num_outputs = 1;
  std::vector<Edge> next_edges;
  // Creation order: later nodes run first among ready ones (deterministic order).
  std::uint64_t sequence_nr;
  // The module whose forward created this node (CommDebugMode's innermost CommModuleScope then),
  // so the backward's collectives are attributed to it; empty outside labelled modules.
  std::string comm_module;
  // Whether apply() needs gradient i of the forward inputs.
  bool needs_input_grad(std::size_t i) const {
    return i < next_edges.size() && next_edges[i].node != nullptr;
  }
};

// A leaf's sink: adds the incoming gradient into the leaf's grad().
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  std::string name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) override;

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  std::uint32_t output_nr = 0;    // which output of grad_fn this tensor is
  std::weak_ptr<AccumulateGrad> accumulator;
};

// Whether ops record nodes in this rank context (core/base/rank_context.h; each sim rank is a
// thread with its own).
class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// torch.no_grad(): ops inside record nothing; restores the previous mode on exit.
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(true); }
  ~EnableGradGuard() { GradMode::set_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

// The edge through which a gradient for `t` flows: its grad_fn, or its leaf accumulator, or
// none when it does not require grad.
Edge gradient_edge(const Tensor& t);
// True when an op on these inputs must be recorded.
bool any_requires_grad(const std::vector<Tensor>& inputs);
// Makes `out` (a fresh result, not yet in any graph) output `output_nr` of `node`.
void set_history(Tensor& out, const std::shared_ptr<Node>& node, std::uint32_t output_nr = 0);
// Builds node->next_edges from the inputs of the op it records.
void collect_next_edges(Node& node, const std::vector<Tensor>& inputs);

// Runs backward from several roots at once: grads[i] is the gradient of roots[i] (defaults
// to ones for one-element roots).
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {},
              bool retain_graph = false);

// a + b for two gradients of the same tensor. Dense: element-wise. Distributed: the placements
// are reconciled per mesh dim without communication where possible (Partial wins: a Replicate
// addend is partitioned; a Shard addend of a Replicate one is chunked locally).
Tensor accumulate_grads(const Tensor& a, const Tensor& b);

// ---- provided by the dtensor layer (core/dtensor/dtensor.cpp) ----
// The engine handles DTensor gradients without knowing DTensor: these two are declared here and
// defined where DTensor is, so includes still point downward only.
//
// The default gradient of a DTensor root: ones with the root's placements, a Partial one
// becoming Replicate (the gradient of each summand is the gradient of the sum).
Tensor distributed_ones_like(const Tensor& root);
// accumulate_grads for two DTensor gradients.
Tensor accumulate_distributed_grads(const Tensor& a, const Tensor& b);

}  // namespace tensorpar
