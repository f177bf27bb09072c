// The fused optimizer entry points: argument checks with the messages every device gives, then
// the parameter's kernel backend (backend.h).
#include "core/kernels/optim.h"

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

namespace {

// A state tensor like param: one shape and dtype. "<what>: grad has shape [3] and dtype
// float64, param has [2] and float32".
void require_like(const Tensor& t, const Tensor& param, const char* what, const char* arg) {
  require(t, what, arg);
  check_arg(t.shape() == param.shape() && t.dtype() == param.dtype(), what, ": ", arg,
            " has shape ", shape_text(t.shape()), " and dtype ", dtype_name(t.dtype()),
            ", param has ", shape_text(param.shape()), " and ", dtype_name(param.dtype()));
}

void require_float(const Tensor& param, const char* what) {
  if (param.dtype() != DType::Float32 && param.dtype() != DType::Float64) {
    unsupported_dtype(param.dtype(), what);
  }
}

}  // namespace

void sgd_update_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first,
                 const SgdHyper& h) {
  const char* what = "sgd_update_";
  require(param, what, "param");
  require_like(grad, param, what, "grad");
  if (momentum_buffer.defined()) require_like(momentum_buffer, param, what, "momentum_buffer");
  require_float(param, what);
  backend_for({&param, &grad, &momentum_buffer}, {"param", "grad", "momentum_buffer"}, what)
      .sgd_update_(param, grad, momentum_buffer, first, h);
}

void adam_update_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  Tensor& max_exp_avg_sq, const AdamHyper& h) {
  const char* what = "adam_update_";
  require(param, what, "param");
  require_like(grad, param, what, "grad");
  require_like(exp_avg, param, what, "exp_avg");
  require_like(exp_avg_sq, param, what, "exp_avg_sq");
  if (max_exp_avg_sq.defined()) require_like(max_exp_avg_sq, param, what, "max_exp_avg_sq");
  require_float(param, what);
  backend_for({&param, &grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq},
              {"param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, what)
      .adam_update_(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, h);
}

}  // namespace tensorpar::kernels
