#include "core/optim/optimizer.h"

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

}  // namespace tensorpar::optim
