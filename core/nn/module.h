#pragma once
// Module: the base of every nn layer, modelled on torch.nn.Module.
//
// A module owns named parameters, buffers and child modules, each in definition order, and a
// forward(). Calling a module runs its forward pre-hooks, forward() and its forward hooks; the
// parallel styles (styles/) are built on these hooks, as PyTorch's are:
//
//   auto mlp = std::make_shared<MLP>();                       // net1, relu, net2
//   mlp->named_parameters();      // {"net1.weight", ...}, {"net1.bias", ...}, {"net2.weight", ...}
//   mlp->get_submodule("net1");   // the first Linear
//   auto h = mlp->register_forward_pre_hook(
//       [](Module&, const ModuleInputs& in) -> std::optional<ModuleInputs> {
//         return ModuleInputs{{mul(in.args[0], 2.0)}, in.kwargs};   // replaces the inputs
//       });
//   Tensor y = (*mlp)(x);         // pre-hooks, forward, hooks; output 0
//   h.remove();
//
// Parameter slots hold Tensors that may be replaced at any time (set_parameter): a style swaps a
// plain weight for a DTensor and forward() picks it up, because forward() reads the current slot
// on every call. Two slots may hold the same Tensor (weight tying); named_parameters() then lists
// it once, under its first name, as PyTorch does with remove_duplicate=True.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/tensor.h"

namespace tensorpar::nn {

// The inputs of one module call: positional arguments and keyword arguments in call order.
struct ModuleInputs {
  std::vector<Tensor> args;
  std::vector<std::pair<std::string, Tensor>> kwargs;

  // The keyword argument `name`, or null when it was not passed.
  const Tensor* kwarg(const std::string& name) const;
  Tensor* kwarg(const std::string& name);
};

class Module;

// Runs before forward(); returning a value replaces the inputs (std::nullopt keeps them).
using ForwardPreHook = std::function<std::optional<ModuleInputs>(Module&, const ModuleInputs&)>;
// Runs after forward() with the (possibly replaced) inputs and the outputs; returning a value
// replaces the outputs.
using ForwardHook = std::function<std::optional<std::vector<Tensor>>(Module&, const ModuleInputs&,
                                                                     const std::vector<Tensor>&)>;

namespace detail {
struct HookRegistry;
}

// Returned by register_forward_(pre_)hook; remove() unregisters the hook. Removing twice, or
// after the module is gone, does nothing.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<detail::HookRegistry> registry, std::uint64_t id)
      : registry_(std::move(registry)), id_(id) {}
  void remove();

 private:
  std::weak_ptr<detail::HookRegistry> registry_;
  std::uint64_t id_ = 0;
};

class Module {
 public:
  Module();
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // "Linear", "Embedding", "Transformer", ... (PyTorch's class names).
  virtual std::string type_name() const { return "Module"; }

  // The computation; read parameters through parameter(name) on every call.
  virtual std::vector<Tensor> forward(const ModuleInputs& inputs);

  // Pre-hooks (in registration order), forward(), hooks (in registration order).
  std::vector<Tensor> operator()(ModuleInputs inputs);
  // One positional input; returns output 0.
  Tensor operator()(const Tensor& x);

  HookHandle register_forward_pre_hook(ForwardPreHook hook);
  HookHandle register_forward_hook(ForwardHook hook);

  // ---- registration (names are unique per module, non-empty and without '.') ----
  // The tensor may be undefined (an absent bias, like PyTorch's None); it is then skipped by
  // named_parameters().
  void register_parameter(const std::string& name, Tensor tensor);
  void register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_child(name, module);
    return module;
  }

  // ---- own slots ----
  bool has_parameter(const std::string& name) const;
  // The current tensor in slot `name`; "Linear has no parameter 'wieght'" otherwise.
  Tensor parameter(const std::string& name) const;
  // Replaces the tensor in slot `name` (the slot must exist).
  void set_parameter(const std::string& name, Tensor tensor);
  Tensor buffer(const std::string& name) const;
  void set_buffer(const std::string& name, Tensor tensor);

  // ---- traversal ----
  // Fully qualified names ("layers.0.attention.wq.weight"), modules in pre-order, each module's
  // own slots in definition order; undefined slots skipped; a tensor held by several slots is
  // listed once, under its first name.
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  std::vector<std::shared_ptr<Module>> children() const;
  // Pre-order, starting with {"", *this}; a module reachable twice is listed once.
  std::vector<std::pair<std::string, Module*>> named_modules();
  // "" is this module. "get_submodule: Transformer has no submodule 'layers.7' (no attribute
  // '7' in ModuleList 'layers')" for a missing one.
  Module& get_submodule(const std::string& fqn);
  // "layers.0.attention.wq.weight".
  Tensor get_parameter(const std::string& fqn);
  // Calls fn on every module, children first, then this one (torch.nn.Module.apply).
  void apply(const std::function<void(Module&)>& fn);

  // ---- modes and gradients ----
  // Sets the mode of this module and every descendant (affects Dropout and attention dropout).
  void train(bool mode = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- distribution bookkeeping (styles/) ----
  // The FQN that CommDebugMode attributes this module's forward collectives to; parallelize_module
  // labels every module under its root. Empty: not labelled.
  const std::string& comm_label() const { return comm_label_; }
  void set_comm_label(std::string fqn) { comm_label_ = std::move(fqn); }
  // Set by distribute_module, which may run once per module.
  bool distribute_module_applied() const { return distribute_module_applied_; }
  void mark_distribute_module_applied() { distribute_module_applied_ = true; }
  // Every parameter's gradient becomes undefined (PyTorch's set_to_none=True).
  void zero_grad();

 protected:
  // forward()'s argument check: "Linear.forward: expected 1 positional input, got 2".
  const Tensor& single_input(const ModuleInputs& inputs) const;

 private:
  void register_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const char* what, const std::string& name) const;
  std::pair<std::string, Tensor>* find_slot(std::vector<std::pair<std::string, Tensor>>& slots,
                                            const std::string& name);

  bool training_ = true;
  bool distribute_module_applied_ = false;
  std::string comm_label_;
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<detail::HookRegistry> hooks_;
};

}  // namespace tensorpar::nn
