#include "core/optim/optimizer.h"

#include <algorithm>
#include <unordered_set>

#include "core/autograd/autograd.h"
#include "core/dtensor/dtensor.h"
#include "core/base/error.h"

namespace tensorpar::optim {

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  std::unordered_set<const TensorImpl*> seen;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    check_arg(p.defined(), "Optimizer: parameter ", i, " is undefined");
    check_arg(p.is_leaf(), "Optimizer: parameter ", i, " is not a leaf tensor (produced by ",
              p.is_leaf() ? "" : p.grad_fn()->name(), ")");
    check_arg(is_floating(p.dtype()), "Optimizer: parameter ", i,
              " must be floating point, got dtype ", dtype_name(p.dtype()));
    check_arg(seen.insert(p.impl().get()).second, "Optimizer: parameter ", i,
              " appears more than once in the parameter list");
  }
}

void Optimizer::zero_grad() {
  for (Tensor p : params_) p.set_grad(Tensor());
}

Optimizer::Slot Optimizer::slot(std::size_t i, const char* who) const {
  const Tensor& p = params_.at(i);
  Tensor g = p.grad();
  if (!g.defined()) return {};
  NoGradGuard no_grad;
  Slot s;
  if (p.is_distributed()) {
    const DTensor param(p);
    check_arg(g.is_distributed(), who, ": parameter ", i,
              " is a DTensor but its gradient is a plain tensor");
    DTensor grad(g);
    // Reduce (or reshard) the gradient once, here, rather than per use in the update.
    if (grad.placements() != param.placements()) {
      grad = redistribute_internal(grad, param.placements());
    }
    s.param = param.to_local();
    s.grad = grad.to_local();
  } else {
    check_arg(!g.is_distributed(), who, ": parameter ", i,
              " is a plain tensor but its gradient is a DTensor");
    s.param = p;
    s.grad = g;
  }
  check_arg(s.grad.shape() == s.param.shape() && s.grad.dtype() == s.param.dtype(), who,
            ": the gradient of parameter ", i, " (", shape_str(s.grad.shape()), " ",
            dtype_name(s.grad.dtype()), ") does not match the parameter (",
            shape_str(s.param.shape()), " ", dtype_name(s.param.dtype()), ")");
  check_arg(s.param.dtype() == DType::Float32 || s.param.dtype() == DType::Float64, who,
            ": parameter ", i, " has dtype ", dtype_name(s.param.dtype()),
            "; only float32 and float64 are supported");
  return s;
}

namespace {

// Parameter i's dense data: its local tensor when it is a DTensor.
Tensor local_data(const Tensor& p) {
  NoGradGuard no_grad;
  return p.is_distributed() ? DTensor(p).to_local() : p;
}

}  // namespace

void Optimizer::check_param_state(std::size_t i, const ParamState& state,
                                  const std::vector<std::string>& expected_tensors,
                                  const std::vector<std::string>& expected_counters) const {
  const std::string who = type_name();
  const Tensor local = local_data(params_.at(i));
  auto listed = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const auto& [name, t] : state.tensors) {
    check_arg(listed(expected_tensors, name), who, ": unexpected state tensor '", name,
              "' for parameter ", i);
    check_arg(t.defined() && !t.is_distributed(), who, ": state tensor '", name,
              "' of parameter ", i, " must be a defined plain tensor in the local layout");
    check_arg(t.shape() == local.shape() && t.dtype() == local.dtype() &&
                  t.device() == local.device(),
              who, ": state tensor '", name, "' of parameter ", i, " is ", shape_str(t.shape()),
              " ", dtype_name(t.dtype()), " on ", device_str(t.device()),
              "; the parameter's local data is ", shape_str(local.shape()), " ",
              dtype_name(local.dtype()), " on ", device_str(local.device()));
  }
  for (const auto& [name, value] : state.counters) {
    check_arg(listed(expected_counters, name), who, ": unexpected state counter '", name,
              "' for parameter ", i);
    check_arg(value >= 0, who, ": state counter '", name, "' of parameter ", i, " is ", value,
              " (must be >= 0)");
  }
  for (const std::string& name : expected_tensors) {
    const bool found = std::any_of(state.tensors.begin(), state.tensors.end(),
                                   [&](const auto& e) { return e.first == name; });
    check_arg(found, who, ": state tensor '", name, "' of parameter ", i, " is missing");
  }
  for (const std::string& name : expected_counters) {
    const bool found = std::any_of(state.counters.begin(), state.counters.end(),
                                   [&](const auto& e) { return e.first == name; });
    check_arg(found, who, ": state counter '", name, "' of parameter ", i, " is missing");
  }
}

const Tensor& Optimizer::state_tensor(const ParamState& state, const std::string& name) {
  for (const auto& [n, t] : state.tensors) {
    if (n == name) return t;
  }
  throw std::invalid_argument(cat("optimizer state: no tensor '", name, "'"));
}

std::int64_t Optimizer::state_counter(const ParamState& state, const std::string& name) {
  for (const auto& [n, v] : state.counters) {
    if (n == name) return v;
  }
  throw std::invalid_argument(cat("optimizer state: no counter '", name, "'"));
}

}  // namespace tensorpar::optim
