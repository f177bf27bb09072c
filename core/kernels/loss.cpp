// The loss entry points: argument checks with the messages every device gives, then the inputs'
// kernel backend (backend.h).
#include "core/kernels/loss.h"

#include <string>

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

namespace {

// input (C) with a 0-d target, or (N, C, d1, ...) with target (N, d1, ...) of Int64.
AxisView check_target(const Shape& input_shape, const Tensor& target, const char* what,
                      const char* input_name) {
  check_arg(!input_shape.empty(), what, ": ", input_name, " must have at least 1 dim, got []");
  require(target, what, "target");
  check_arg(target.dtype() == DType::Int64, what, ": target must be int64, got ",
            dtype_name(target.dtype()));
  Shape expected = input_shape;
  const std::size_t class_dim = input_shape.size() == 1 ? 0 : 1;
  expected.erase(expected.begin() + std::ptrdiff_t(class_dim));
  check_arg(target.shape() == expected, what, ": target shape ", shape_text(target.shape()),
            " does not match ", input_name, " shape ", shape_text(input_shape), " (expected ",
            shape_text(expected), ")");
  AxisView v;
  v.n = input_shape[class_dim];
  if (class_dim == 1) {
    v.outer = input_shape[0];
    v.inner = numel(Shape(input_shape.begin() + 2, input_shape.end()));
  }
  return v;
}

// weight: undefined, or [C] of the input's dtype.
void check_weight(const Tensor& weight, const AxisView& v, DType dtype, const char* what) {
  if (!weight.defined()) return;
  require(weight, what, "weight");
  check_arg(weight.dim() == 1 && weight.size(0) == v.n, what, ": weight has shape ",
            shape_text(weight.shape()), ", expected [", v.n, "] (one per class)");
  check_arg(weight.dtype() == dtype, what, ": weight dtype ", dtype_name(weight.dtype()),
            " does not match input dtype ", dtype_name(dtype));
}

void check_float(DType dtype, const char* what) {
  check_arg(dtype == DType::Float32 || dtype == DType::Float64, what, ": dtype ", dtype_name(dtype),
            " is not supported");
}

// The checks of the backward's grad and total_weight: grad like target for 'none', else one
// element (and total_weight one element of the input dtype for 'mean').
void check_upstream(const Tensor& grad, const Tensor& target, Reduction reduction,
                    const Tensor& total_weight, DType dtype, const char* what) {
  require(grad, what, "grad");
  check_arg(grad.dtype() == dtype, what, ": grad dtype ", dtype_name(grad.dtype()),
            " does not match input dtype ", dtype_name(dtype));
  if (reduction == Reduction::None) {
    check_arg(grad.shape() == target.shape(), what, ": grad shape ", shape_text(grad.shape()),
              " must match target shape ", shape_text(target.shape()), " for reduction 'none'");
    return;
  }
  check_arg(grad.numel() == 1, what, ": grad must have one element for reduction '",
            reduction_name(reduction), "', got shape ", shape_text(grad.shape()));
  if (reduction == Reduction::Mean) {
    require(total_weight, what, "total_weight");
    check_arg(total_weight.numel() == 1 && total_weight.dtype() == dtype, what,
              ": total_weight must be one ", dtype_name(dtype), " element, got shape ",
              shape_text(total_weight.shape()), " of ", dtype_name(total_weight.dtype()));
  }
}

}  // namespace

CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                 std::int64_t ignore_index, Reduction reduction) {
  const char* what = "cross_entropy";
  require(logits, what, "logits");
  check_float(logits.dtype(), what);
  const AxisView v = check_target(logits.shape(), target, what, "logits");
  check_weight(weight, v, logits.dtype(), what);
  return backend_for({&logits, &target, &weight}, {"logits", "target", "weight"}, what)
      .cross_entropy(logits, target, weight, ignore_index, reduction);
}

CrossEntropyResult nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                            std::int64_t ignore_index, Reduction reduction) {
  const char* what = "nll_loss";
  require(log_probs, what, "log_probs");
  check_float(log_probs.dtype(), what);
  const AxisView v = check_target(log_probs.shape(), target, what, "log_probs");
  check_weight(weight, v, log_probs.dtype(), what);
  return backend_for({&log_probs, &target, &weight}, {"log_probs", "target", "weight"}, what)
      .nll_loss(log_probs, target, weight, ignore_index, reduction);
}

Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& target,
                              const Tensor& weight, std::int64_t ignore_index, Reduction reduction,
                              const Tensor& total_weight) {
  const char* what = "cross_entropy_backward";
  require(log_probs, what, "log_probs");
  check_float(log_probs.dtype(), what);
  const AxisView v = check_target(log_probs.shape(), target, what, "log_probs");
  check_weight(weight, v, log_probs.dtype(), what);
  check_upstream(grad, target, reduction, total_weight, log_probs.dtype(), what);
  return backend_for({&grad, &log_probs, &target, &weight, &total_weight},
                     {"grad", "log_probs", "target", "weight", "total_weight"}, what)
      .cross_entropy_backward(grad, log_probs, target, weight, ignore_index, reduction,
                              total_weight);
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, const Tensor& weight,
                         std::int64_t ignore_index, Reduction reduction, const Tensor& total_weight,
                         const Shape& input_shape, DType dtype) {
  const char* what = "nll_loss_backward";
  check_float(dtype, what);
  const AxisView v = check_target(input_shape, target, what, "input");
  check_weight(weight, v, dtype, what);
  check_upstream(grad, target, reduction, total_weight, dtype, what);
  return backend_for({&grad, &target, &weight, &total_weight},
                     {"grad", "target", "weight", "total_weight"}, what)
      .nll_loss_backward(grad, target, weight, ignore_index, reduction, total_weight, input_shape,
                         dtype);
}

}  // namespace tensorpar::kernels
