// The norm entry points: argument checks with the messages every device gives, then the inputs'
// kernel backend (backend.h).
#include "core/kernels/norm.h"

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

namespace {

// x.shape without the last dim: the shape of the per-row statistics.
Shape stats_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 1); }

void check_input(const Tensor& x, const char* what) {
  require(x, what, "input");
  check_arg(x.dim() >= 1, what, ": input must have at least 1 dim, got a 0-d tensor");
  check_arg(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, what, ": dtype ",
            dtype_name(x.dtype()), " is not supported");
}

// A [D] tensor of x's dtype, when defined.
void check_param(const Tensor& p, const Tensor& x, const char* what, const char* arg) {
  if (!p.defined()) return;
  require(p, what, arg);
  const Shape expected{x.size(-1)};
  check_arg(p.shape() == expected, what, ": ", arg, " has shape ", shape_text(p.shape()),
            ", expected ", shape_text(expected));
  check_arg(p.dtype() == x.dtype(), what, ": ", arg, " dtype ", dtype_name(p.dtype()),
            " does not match input dtype ", dtype_name(x.dtype()));
}

// grad like x; the statistics of x's stats shape and dtype.
void check_backward(const Tensor& grad, const Tensor& x, const Tensor& stat, const char* what,
                    const char* arg) {
  require(grad, what, "grad");
  check_arg(grad.shape() == x.shape(), what, ": grad shape ", shape_text(grad.shape()),
            " does not match input shape ", shape_text(x.shape()));
  check_arg(grad.dtype() == x.dtype(), what, ": grad dtype ", dtype_name(grad.dtype()),
            " does not match input dtype ", dtype_name(x.dtype()));
  require(stat, what, arg);
  const Shape expected = stats_shape(x);
  check_arg(stat.shape() == expected && stat.dtype() == x.dtype(), what, ": ", arg, " has shape ",
            shape_text(stat.shape()), " and dtype ", dtype_name(stat.dtype()), ", expected ",
            shape_text(expected), " and ", dtype_name(x.dtype()));
}

}  // namespace

NormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* what = "layer_norm";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  check_param(bias, x, what, "bias");
  return backend_for({&x, &weight, &bias}, {"input", "weight", "bias"}, what)
      .layer_norm(x, weight, bias, eps);
}

// With xhat = (x - mean) * rstd and g = grad * weight, per row of D elements:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dweight = sum_rows grad * xhat,
//   dbias = sum_rows grad.
NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                              const Tensor& mean, const Tensor& rstd, bool need_weight,
                              bool need_bias) {
  const char* what = "layer_norm_backward";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  check_backward(grad, x, mean, what, "mean");
  check_backward(grad, x, rstd, what, "rstd");
  check_arg(!need_weight || weight.defined(), what,
            ": need_weight is set but weight is undefined (no affine transform)");
  return backend_for({&grad, &x, &weight, &mean, &rstd},
                     {"grad", "input", "weight", "mean", "rstd"}, what)
      .layer_norm_backward(grad, x, weight, mean, rstd, need_weight, need_bias);
}

NormResult rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const char* what = "rms_norm";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  return backend_for({&x, &weight}, {"input", "weight"}, what).rms_norm(x, weight, eps);
}

// With xhat = x * rstd and g = grad * weight, per row of D elements:
//   dx = rstd * (g - xhat * mean(g * xhat)),  dweight = sum_rows grad * xhat.
NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            const Tensor& rstd, bool need_weight) {
  const char* what = "rms_norm_backward";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  check_backward(grad, x, rstd, what, "rstd");
  check_arg(!need_weight || weight.defined(), what,
            ": need_weight is set but weight is undefined (no affine transform)");
  return backend_for({&grad, &x, &weight, &rstd}, {"grad", "input", "weight", "rstd"}, what)
      .rms_norm_backward(grad, x, weight, rstd, need_weight);
}

}  // namespace tensorpar::kernels
