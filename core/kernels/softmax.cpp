// The softmax entry points: argument checks with the messages every device gives, then the
// inputs' kernel backend (backend.h).
#include "core/kernels/softmax.h"

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

namespace {

void check_forward(const Tensor& x, std::int64_t dim, const char* what) {
  require(x, what, "input");
  axis_view(x.shape(), dim, what);
}

KernelBackend& check_backward(const Tensor& grad, const Tensor& y, std::int64_t dim,
                              const char* what) {
  require(grad, what, "grad");
  require(y, what, "output");
  check_arg(grad.shape() == y.shape(), what, ": grad shape ", shape_text(grad.shape()),
            " does not match output shape ", shape_text(y.shape()));
  check_arg(grad.dtype() == y.dtype(), what, ": grad dtype ", dtype_name(grad.dtype()),
            " does not match output dtype ", dtype_name(y.dtype()));
  axis_view(y.shape(), dim, what);
  return backend_for({&grad, &y}, {"grad", "output"}, what);
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) {
  check_forward(x, dim, "softmax");
  return backend_for(x).softmax(x, dim);
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  check_forward(x, dim, "log_softmax");
  return backend_for(x).log_softmax(x, dim);
}

Tensor softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) {
  return check_backward(grad, y, dim, "softmax_backward").softmax_backward(grad, y, dim);
}

Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) {
  return check_backward(grad, y, dim, "log_softmax_backward").log_softmax_backward(grad, y, dim);
}

}  // namespace tensorpar::kernels
