#include "core/nn/module.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_set>

#include "core/comm/comm_debug_mode.h"
#include "core/base/error.h"

namespace tensorpar::nn {

namespace detail {
struct HookRegistry {
  std::uint64_t next_id = 1;
  std::vector<std::pair<std::uint64_t, ForwardPreHook>> pre;
  std::vector<std::pair<std::uint64_t, ForwardHook>> post;
};
}  // namespace detail

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

template <class Hook>
void erase_id(std::vector<std::pair<std::uint64_t, Hook>>& hooks, std::uint64_t id) {
  std::erase_if(hooks, [id](const auto& entry) { return entry.first == id; });
}

}  // namespace

const Tensor* ModuleInputs::kwarg(const std::string& name) const {
  for (const auto& [key, value] : kwargs) {
    if (key == name) return &value;
  }
  return nullptr;
}

Tensor* ModuleInputs::kwarg(const std::string& name) {
  for (auto& [key, value] : kwargs) {
    if (key == name) return &value;
  }
  return nullptr;
}

void HookHandle::remove() {
  if (auto registry = registry_.lock()) {
    erase_id(registry->pre, id_);
    erase_id(registry->post, id_);
  }
  registry_.reset();
}

Module::Module() : hooks_(std::make_shared<detail::HookRegistry>()) {}

std::vector<Tensor> Module::forward(const ModuleInputs&) {
  throw std::logic_error(cat(type_name(), " has no forward()"));
}

std::vector<Tensor> Module::operator()(ModuleInputs inputs) {
  std::optional<CommModuleScope> label;
  if (!comm_label_.empty()) label.emplace(comm_label_);
  // Snapshots: a hook may remove itself (or others) while running.
  const auto pre = hooks_->pre;
  for (const auto& [id, hook] : pre) {
    if (auto replaced = hook(*this, inputs)) inputs = std::move(*replaced);
  }
  std::vector<Tensor> outputs = forward(inputs);
  const auto post = hooks_->post;
  for (const auto& [id, hook] : post) {
    if (auto replaced = hook(*this, inputs, outputs)) outputs = std::move(*replaced);
  }
  return outputs;
}

Tensor Module::operator()(const Tensor& x) {
  std::vector<Tensor> outputs = (*this)(ModuleInputs{{x}, {}});
  check_state(!outputs.empty(), type_name(), " returned no outputs");
  return outputs.front();
}

HookHandle Module::register_forward_pre_hook(ForwardPreHook hook) {
  check_arg(static_cast<bool>(hook), "register_forward_pre_hook: the hook is empty");
  const std::uint64_t id = hooks_->next_id++;
  hooks_->pre.emplace_back(id, std::move(hook));
  return HookHandle(hooks_, id);
}

HookHandle Module::register_forward_hook(ForwardHook hook) {
  check_arg(static_cast<bool>(hook), "register_forward_hook: the hook is empty");
  const std::uint64_t id = hooks_->next_id++;
  hooks_->post.emplace_back(id, std::move(hook));
  return HookHandle(hooks_, id);
}

void Module::check_new_name(const char* what, const std::string& name) const {
  check_arg(!name.empty(), what, ": the name must not be empty");
  check_arg(name.find('.') == std::string::npos, what, ": name '", name, "' must not contain '.'");
  const auto taken = [&](const auto& slots) {
    return std::any_of(slots.begin(), slots.end(),
                       [&](const auto& slot) { return slot.first == name; });
  };
  check_arg(!taken(parameters_) && !taken(buffers_) && !taken(children_), what, ": ", type_name(),
            " already has an attribute '", name, "'");
}

void Module::register_parameter(const std::string& name, Tensor tensor) {
  check_new_name("register_parameter", name);
  parameters_.emplace_back(name, std::move(tensor));
}

void Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name("register_buffer", name);
  buffers_.emplace_back(name, std::move(tensor));
}

void Module::register_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name("register_module", name);
  check_arg(module != nullptr, "register_module: module '", name, "' is null");
  children_.emplace_back(name, std::move(module));
}

std::pair<std::string, Tensor>* Module::find_slot(
    std::vector<std::pair<std::string, Tensor>>& slots, const std::string& name) {
  for (auto& slot : slots) {
    if (slot.first == name) return &slot;
  }
  return nullptr;
}

bool Module::has_parameter(const std::string& name) const {
  return std::any_of(parameters_.begin(), parameters_.end(),
                     [&](const auto& slot) { return slot.first == name; });
}

Tensor Module::parameter(const std::string& name) const {
  for (const auto& [key, value] : parameters_) {
    if (key == name) return value;
  }
  throw std::invalid_argument(cat(type_name(), " has no parameter '", name, "'"));
}

void Module::set_parameter(const std::string& name, Tensor tensor) {
  auto* slot = find_slot(parameters_, name);
  check_arg(slot != nullptr, type_name(), " has no parameter '", name, "'");
  slot->second = std::move(tensor);
}

Tensor Module::buffer(const std::string& name) const {
  for (const auto& [key, value] : buffers_) {
    if (key == name) return value;
  }
  throw std::invalid_argument(cat(type_name(), " has no buffer '", name, "'"));
}

void Module::set_buffer(const std::string& name, Tensor tensor) {
  auto* slot = find_slot(buffers_, name);
  check_arg(slot != nullptr, type_name(), " has no buffer '", name, "'");
  slot->second = std::move(tensor);
}

namespace {

// Shared walk of named_parameters / named_buffers.
template <class Slots>
std::vector<std::pair<std::string, Tensor>> named_tensors(Module& root, bool recurse,
                                                          Slots slots_of) {
  std::vector<std::pair<std::string, Tensor>> out;
  std::unordered_set<const TensorImpl*> seen;
  auto visit = [&](const std::string& prefix, Module& m) {
    for (const auto& [name, tensor] : slots_of(m)) {
      if (!tensor.defined() || !seen.insert(tensor.impl().get()).second) continue;
      out.emplace_back(join(prefix, name), tensor);
    }
  };
  if (recurse) {
    for (auto& [prefix, m] : root.named_modules()) visit(prefix, *m);
  } else {
    visit("", root);
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  // Traversal does not modify anything; named_modules() hands out mutable pointers.
  auto& self = const_cast<Module&>(*this);
  return named_tensors(
      self, recurse, [](Module & m) -> const auto& { return m.parameters_; });
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters(recurse)) out.push_back(tensor);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  auto& self = const_cast<Module&>(*this);
  return named_tensors(
      self, recurse, [](Module & m) -> const auto& { return m.buffers_; });
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_buffers(recurse)) out.push_back(tensor);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [name, child] : children_) out.push_back(child);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  std::unordered_set<const Module*> seen;
  std::function<void(const std::string&, Module&)> visit = [&](const std::string& prefix,
                                                               Module& m) {
    if (!seen.insert(&m).second) return;
    out.emplace_back(prefix, &m);
    for (auto& [name, child] : m.children_) visit(join(prefix, name), *child);
  };
  visit("", *this);
  return out;
}

Module& Module::get_submodule(const std::string& fqn) {
  Module* current = this;
  std::string path;  // FQN of `current`
  std::size_t start = 0;
  while (start <= fqn.size() && !fqn.empty()) {
    const std::size_t dot = std::min(fqn.find('.', start), fqn.size());
    const std::string token = fqn.substr(start, dot - start);
    Module* next = nullptr;
    for (auto& [name, child] : current->children_) {
      if (name == token) {
        next = child.get();
        break;
      }
    }
    if (next == nullptr) {
      throw std::invalid_argument(cat("get_submodule: ", type_name(), " has no submodule '", fqn,
                                      "' (no attribute '", token, "' in ", current->type_name(),
                                      path.empty() ? "" : " '" + path + "'", ")"));
    }
    current = next;
    path = join(path, token);
    start = dot + 1;
  }
  return *current;
}

Tensor Module::get_parameter(const std::string& fqn) {
  const std::size_t dot = fqn.rfind('.');
  const std::string owner = dot == std::string::npos ? "" : fqn.substr(0, dot);
  const std::string name = dot == std::string::npos ? fqn : fqn.substr(dot + 1);
  Module& m = get_submodule(owner);
  check_arg(m.has_parameter(name), "get_parameter: ", m.type_name(),
            owner.empty() ? "" : " '" + owner + "'", " has no parameter '", name, "'");
  return m.parameter(name);
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, child] : children_) child->apply(fn);
  fn(*this);
}

void Module::train(bool mode) {
  training_ = mode;
  for (auto& [name, child] : children_) child->train(mode);
}

void Module::zero_grad() {
  for (auto& [name, p] : named_parameters()) p.set_grad(Tensor());
}

const Tensor& Module::single_input(const ModuleInputs& inputs) const {
  check_arg(inputs.args.size() == 1 && inputs.kwargs.empty(), type_name(),
            ".forward: expected 1 positional input, got ", inputs.args.size(),
            inputs.kwargs.empty() ? "" : " and keyword inputs");
  check_arg(inputs.args[0].defined(), type_name(), ".forward: the input is undefined");
  return inputs.args[0];
}

}  // namespace tensorpar::nn
