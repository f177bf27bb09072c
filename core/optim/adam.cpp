#include "core/optim/adam.h"

#include <cmath>

#include "core/comm/comm_debug_mode.h"
#include "core/base/error.h"
#include "core/kernels/optim.h"

namespace tensorpar::optim {

namespace {

void check_options(const AdamOptions& o, const char* name) {
  check_arg(o.lr >= 0, name, ": invalid lr ", o.lr, " (must be >= 0)");
  check_arg(o.eps >= 0, name, ": invalid eps ", o.eps, " (must be >= 0)");
  check_arg(o.beta1 >= 0 && o.beta1 < 1, name, ": invalid beta1 ", o.beta1, " (must be in [0, 1))");
  check_arg(o.beta2 >= 0 && o.beta2 < 1, name, ": invalid beta2 ", o.beta2, " (must be in [0, 1))");
  check_arg(o.weight_decay >= 0, name, ": invalid weight_decay ", o.weight_decay,
            " (must be >= 0)");
}

AdamOptions as_adam(const AdamWOptions& o) {
  return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad};
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::move(params), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled_weight_decay,
           const char* name)
    : Optimizer(std::move(params)),
      options_(options),
      decoupled_(decoupled_weight_decay),
      name_(name) {
  check_options(options_, name_);
  state_.resize(this->params().size());
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : Adam(std::move(params), as_adam(options), true, "AdamW") {}

void Adam::set_lr(double lr) {
  check_arg(lr >= 0, name_, ": invalid lr ", lr, " (must be >= 0)");
  options_.lr = lr;
}

void Adam::step() {
  CommPhaseScope phase(CommPhase::Optimizer);
  for (std::size_t i = 0; i < params().size(); ++i) {
    Slot s = slot(i, name_);
    if (!s.grad.defined()) continue;
    AdamState& st = state_[i];
    if (st.step == 0) {
      // The moments live beside their parameter: the same shape, dtype and device.
      const Device device = s.param.device();
      st.exp_avg = zeros(s.param.shape(), s.param.dtype(), device);
      st.exp_avg_sq = zeros(s.param.shape(), s.param.dtype(), device);
      if (options_.amsgrad) st.max_exp_avg_sq = zeros(s.param.shape(), s.param.dtype(), device);
    }
    ++st.step;
    const double t = static_cast<double>(st.step);
    kernels::AdamHyper h;
    h.lr = options_.lr;
    h.beta1 = options_.beta1;
    h.beta2 = options_.beta2;
    h.eps = options_.eps;
    h.weight_decay = options_.weight_decay;
    h.step_size = options_.lr / (1 - std::pow(options_.beta1, t));
    h.bias_correction2_sqrt = std::sqrt(1 - std::pow(options_.beta2, t));
    h.decoupled = decoupled_;
    kernels::adam_update_(s.param, s.grad, st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq, h);
  }
}

Optimizer::ParamState Adam::param_state(std::size_t i) const {
  const AdamState& st = state_.at(i);
  ParamState out;
  if (st.step == 0) return out;
  out.tensors = {{"exp_avg", st.exp_avg}, {"exp_avg_sq", st.exp_avg_sq}};
  if (options_.amsgrad) out.tensors.emplace_back("max_exp_avg_sq", st.max_exp_avg_sq);
  out.counters = {{"step", st.step}};
  return out;
}

void Adam::load_param_state(std::size_t i, const ParamState& state) {
  AdamState& st = state_.at(i);
  if (state.tensors.empty() && state.counters.empty()) {
    st = AdamState{};
    return;
  }
  std::vector<std::string> tensors{"exp_avg", "exp_avg_sq"};
  if (options_.amsgrad) tensors.push_back("max_exp_avg_sq");
  check_param_state(i, state, tensors, {"step"});
  const std::int64_t step = state_counter(state, "step");
  check_arg(step > 0, name_, ": state counter 'step' of parameter ", i,
            " is 0 but moments are given");
  st.step = step;
  st.exp_avg = state_tensor(state, "exp_avg");
  st.exp_avg_sq = state_tensor(state, "exp_avg_sq");
  st.max_exp_avg_sq = options_.amsgrad ? state_tensor(state, "max_exp_avg_sq") : Tensor();
}

}  // namespace tensorpar::optim
