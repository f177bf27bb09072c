#include "core/optim/sgd.h"

#include "core/comm/comm_debug_mode.h"
#include "core/base/error.h"
#include "core/kernels/optim.h"

namespace tensorpar::optim {

namespace {

void check_options(const SGDOptions& o) {
  check_arg(o.lr >= 0, "SGD: invalid lr ", o.lr, " (must be >= 0)");
  check_arg(o.momentum >= 0, "SGD: invalid momentum ", o.momentum, " (must be >= 0)");
  check_arg(o.weight_decay >= 0, "SGD: invalid weight_decay ", o.weight_decay, " (must be >= 0)");
  check_arg(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
            "SGD: nesterov momentum requires momentum > 0 and dampening 0, got momentum ",
            o.momentum, " and dampening ", o.dampening);
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params)), options_(options) {
  check_options(options_);
  momentum_buffers_.resize(this->params().size());
}

void SGD::set_lr(double lr) {
  check_arg(lr >= 0, "SGD: invalid lr ", lr, " (must be >= 0)");
  options_.lr = lr;
}

void SGD::step() {
  CommPhaseScope phase(CommPhase::Optimizer);
  for (std::size_t i = 0; i < params().size(); ++i) {
    Slot s = slot(i, "SGD");
    if (!s.grad.defined()) continue;
    Tensor& buf = momentum_buffers_[i];
    const bool first = !buf.defined();
    if (options_.momentum != 0 && first) {
      buf = Tensor::empty(s.param.shape(), s.param.dtype(), s.param.device());
    }
    kernels::SgdHyper h;
    h.lr = options_.lr;
    h.momentum = options_.momentum;
    h.dampening = options_.dampening;
    h.weight_decay = options_.weight_decay;
    h.nesterov = options_.nesterov;
    Tensor no_buffer;
    kernels::sgd_update_(s.param, s.grad, options_.momentum != 0 ? buf : no_buffer, first, h);
  }
}

Optimizer::ParamState SGD::param_state(std::size_t i) const {
  ParamState out;
  const Tensor& buf = momentum_buffers_.at(i);
  if (buf.defined()) out.tensors = {{"momentum_buffer", buf}};
  return out;
}

void SGD::load_param_state(std::size_t i, const ParamState& state) {
  if (state.tensors.empty() && state.counters.empty()) {
    momentum_buffers_.at(i) = Tensor();
    return;
  }
  check_param_state(i, state, {"momentum_buffer"}, {});
  momentum_buffers_.at(i) = state_tensor(state, "momentum_buffer");
}

}  // namespace tensorpar::optim
