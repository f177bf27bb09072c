// The attention entry points: argument checks with the messages every device gives, then the
// tensor's kernel backend (backend.h).
#include "core/kernels/attention.h"

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

namespace {

void check_scores(const Tensor& t, const char* what, const char* arg) {
  require(t, what, arg);
  check_arg(t.dim() >= 2, what, ": ", arg, " must have at least 2 dims (..., Sq, Sk), got shape ",
            shape_text(t.shape()));
  check_arg(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, what, ": dtype ",
            dtype_name(t.dtype()), " is not supported");
}

}  // namespace

void causal_mask_(Tensor& scores) {
  check_scores(scores, "causal_mask_", "scores");
  backend_for(scores).causal_mask_(scores);
}

void causal_mask_backward_(Tensor& grad) {
  check_scores(grad, "causal_mask_backward_", "grad");
  backend_for(grad).causal_mask_backward_(grad);
}

}  // namespace tensorpar::kernels
