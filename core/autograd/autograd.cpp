// The autograd engine: graph bookkeeping, backward() and gradient accumulation.
#include "core/autograd/autograd.h"

#include <atomic>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/base/error.h"
#include "core/base/rank_context.h"
#include "core/comm/comm_debug_mode.h"
#include "core/kernels/elementwise.h"

namespace tensorpar {

namespace {

// Atomic so that a helper thread handed the rank's context reads it while the rank runs.
struct GradModeState {
  std::atomic<bool> enabled{true};
};
constexpr RankContext::Slot<GradModeState> kGradModeSlot{RankSlot::GradMode};
std::atomic<std::uint64_t> g_next_sequence_nr{0};

AutogradMeta& meta_of(TensorImpl& impl) {
  if (!impl.autograd) impl.autograd = std::make_shared<AutogradMeta>();
  return *impl.autograd;
}

}  // namespace

Node::Node() : sequence_nr(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {
  if (const std::string* module = current_comm_module()) comm_module = *module;
}

bool GradMode::is_enabled() {
  return RankContext::current().get(kGradModeSlot).enabled.load(std::memory_order_relaxed);
}
void GradMode::set_enabled(bool enabled) {
  RankContext::current().get(kGradModeSlot).enabled.store(enabled, std::memory_order_relaxed);
}

// ---- Tensor's autograd members ----

bool Tensor::requires_grad() const {
  if (!impl_ || !impl_->autograd) return false;
  return impl_->autograd->requires_grad || impl_->autograd->grad_fn != nullptr;
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  check_arg(impl_ != nullptr, "requires_grad_: the tensor is undefined");
  if (impl_->autograd && impl_->autograd->grad_fn) {
    throw std::invalid_argument(
        "requires_grad_: only leaf tensors can change requires_grad; use detach() for a "
        "non-leaf tensor (produced by " +
        impl_->autograd->grad_fn->name() + ")");
  }
  check_arg(!requires_grad || is_floating(dtype()),
            "requires_grad_: only floating point tensors can require gradients, got dtype ",
            dtype_name(dtype()));
  meta_of(*impl_).requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::grad() const {
  if (!impl_ || !impl_->autograd) return Tensor();
  return impl_->autograd->grad;
}

void Tensor::set_grad(const Tensor& grad) {
  check_arg(impl_ != nullptr, "set_grad: the tensor is undefined");
  if (grad.defined()) {
    check_arg(grad.shape() == shape(), "set_grad: gradient shape ", shape_text(grad.shape()),
              " does not match the tensor's shape ", shape_text(shape()));
    check_arg(grad.is_distributed() == is_distributed(), "set_grad: a ",
              is_distributed() ? "DTensor" : "plain tensor", " needs a ",
              is_distributed() ? "DTensor" : "plain tensor", " gradient");
  }
  meta_of(*impl_).grad = grad;
}

std::shared_ptr<Node> Tensor::grad_fn() const {
  if (!impl_ || !impl_->autograd) return nullptr;
  return impl_->autograd->grad_fn;
}

Tensor Tensor::detach() const {
  check_arg(impl_ != nullptr, "detach: the tensor is undefined");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  impl->device = impl_->device;
  impl->dist = impl_->dist;
  return Tensor(std::move(impl));
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  tensorpar::backward({*this}, grad.defined() ? std::vector<Tensor>{grad} : std::vector<Tensor>{},
                      retain_graph);
}

// ---- graph bookkeeping ----

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grad_outputs) {
  Tensor& g = grad_outputs.at(0);
  if (!g.defined()) return {};
  AutogradMeta& meta = meta_of(*leaf_);
  check_state(g.shape() == leaf_->shape, "AccumulateGrad: gradient shape ", shape_text(g.shape()),
              " does not match the leaf's shape ", shape_text(leaf_->shape));
  meta.grad = meta.grad.defined() ? accumulate_grads(meta.grad, g) : g;
  return {};
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.impl()->autograd) return {};
  AutogradMeta& meta = *t.impl()->autograd;
  if (meta.grad_fn) return {meta.grad_fn, meta.output_nr};
  if (!meta.requires_grad) return {};
  auto acc = meta.accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl());
    meta.accumulator = acc;
  }
  return {acc, 0};
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void set_history(Tensor& out, const std::shared_ptr<Node>& node, std::uint32_t output_nr) {
  AutogradMeta& meta = meta_of(*out.impl());
  meta.grad_fn = node;
  meta.output_nr = output_nr;
  meta.requires_grad = true;
}

void collect_next_edges(Node& node, const std::vector<Tensor>& inputs) {
  node.next_edges.clear();
  node.next_edges.reserve(inputs.size());
  for (const Tensor& t : inputs) node.next_edges.push_back(gradient_edge(t));
}

// ---- the engine ----

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
              bool retain_graph) {
  CommPhaseScope phase(CommPhase::Backward);
  check_arg(grads.empty() || grads.size() == roots.size(), "backward: got ", grads.size(),
            " gradients for ", roots.size(), " tensors");
  struct Pending {
    std::shared_ptr<Node> node;
    std::vector<Tensor> grads;
    std::int64_t dependencies = 0;
  };
  std::unordered_map<Node*, Pending> pending;
  auto state_of = [&](const std::shared_ptr<Node>& n) -> Pending& {
    Pending& p = pending[n.get()];
    if (!p.node) {
      p.node = n;
      p.grads.resize(n->num_outputs);
    }
    return p;
  };

  std::vector<std::pair<Edge, Tensor>> starts;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    check_arg(root.defined(), "backward: tensor ", i, " is undefined");
    Edge edge = gradient_edge(root);
    check_arg(edge.node != nullptr, "backward: element ", i,
              " of tensors does not require grad and does not have a grad_fn");
    Tensor g;
    if (!grads.empty() && grads[i].defined()) {
      g = grads[i];
      check_arg(g.shape() == root.shape(), "backward: gradient ", i, " has shape ",
                shape_text(g.shape()), " but the tensor has shape ", shape_text(root.shape()));
      check_arg(g.is_distributed() == root.is_distributed(), "backward: gradient ", i,
                " must be a ", root.is_distributed() ? "DTensor" : "plain tensor",
                " like the tensor");
    } else {
      check_arg(root.numel() == 1, "backward: grad can be implicitly created only for scalar "
                                   "outputs; tensor ", i, " has shape ", shape_text(root.shape()));
      g = root.is_distributed() ? distributed_ones_like(root)
                                : ones(root.shape(), root.dtype(), root.device());
    }
    starts.emplace_back(std::move(edge), std::move(g));
  }

  // Count, for every node reachable from the roots, how many edges lead into it.
  {
    std::vector<Node*> stack;
    std::unordered_set<Node*> seen;
    for (auto& [edge, g] : starts) {
      state_of(edge.node);
      if (seen.insert(edge.node.get()).second) stack.push_back(edge.node.get());
    }
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next_edges) {
        if (!e.node) continue;
        ++state_of(e.node).dependencies;
        if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
      }
    }
  }

  auto by_sequence = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(by_sequence)> ready(by_sequence);
  auto add_grad = [](Tensor& slot, Tensor&& g) {
    slot = slot.defined() ? accumulate_grads(slot, g) : std::move(g);
  };
  for (auto& [edge, g] : starts) {
    Pending& p = pending[edge.node.get()];
    add_grad(p.grads[edge.input_nr], std::move(g));
  }
  for (auto& [edge, g] : starts) {
    Pending& p = pending[edge.node.get()];
    if (p.dependencies == 0) {
      p.dependencies = -1;  // queued
      ready.push(edge.node.get());
    }
  }

  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    Pending& p = pending[n];
    std::shared_ptr<Node> keep = p.node;
    std::vector<Tensor> out;
    {
      std::optional<CommModuleScope> module;
      if (!n->comm_module.empty()) module.emplace(n->comm_module);
      out = n->apply(std::move(p.grads));
    }
    p.grads.clear();
    if (!retain_graph) n->release_saved();
    for (std::size_t i = 0; i < n->next_edges.size(); ++i) {
      const Edge& e = n->next_edges[i];
      if (!e.node) continue;
      Pending& q = pending[e.node.get()];
      if (i < out.size() && out[i].defined()) add_grad(q.grads[e.input_nr], std::move(out[i]));
      if (--q.dependencies == 0) {
        q.dependencies = -1;
        ready.push(e.node.get());
      }
    }
    if (!retain_graph) n->next_edges.clear();
  }
}

// ---- gradient accumulation ----

Tensor accumulate_grads(const Tensor& a, const Tensor& b) {
  check_arg(a.shape() == b.shape(), "accumulate_grads: shapes differ: ", shape_text(a.shape()),
            " vs ", shape_text(b.shape()));
  if (!a.is_distributed() && !b.is_distributed()) {
    NoGradGuard no_grad;
    Tensor out = a.clone();
    kernels::axpy_(out, 1.0, b.dtype() == a.dtype() ? b : b.to(a.dtype()));
    return out;
  }
  check_arg(a.is_distributed() && b.is_distributed(),
            "accumulate_grads: cannot add a DTensor gradient and a plain tensor gradient");
  return accumulate_distributed_grads(a, b);
}

}  // namespace tensorpar
