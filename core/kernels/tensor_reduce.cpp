// The tensor-layer comparisons (declared in core/tensor/tensor.h), defined here because they run
// kernels: argument checks, then the tensors' kernel backend.
#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar {

using kernels::require;

// -0 equals +0 and NaN equals nothing, as in torch.equal.
bool equal(const Tensor& a, const Tensor& b) {
  require(a, "equal", "a");
  require(b, "equal", "b");
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  return kernels::backend_for({&a, &b}, {"a", "b"}, "equal").equal(a, b);
}

// torch.isclose without equal_nan: equal values (infinities included) are close, otherwise the
// error must be finite and within tolerance; NaN is close to nothing.
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  require(a, "allclose", "a");
  require(b, "allclose", "b");
  check_arg(rtol >= 0 && atol >= 0, "allclose: rtol ", rtol, " and atol ", atol,
            " must be non-negative");
  if (a.shape() != b.shape()) return false;
  return kernels::backend_for({&a, &b}, {"a", "b"}, "allclose").allclose(a, b, rtol, atol);
}

// NaN when any difference is NaN.
double max_abs_diff(const Tensor& a, const Tensor& b) {
  kernels::require_same(a, b, "max_abs_diff", false);
  if (a.numel() == 0) return 0.0;
  return kernels::backend_for({&a, &b}, {"a", "b"}, "max_abs_diff").max_abs_diff(a, b);
}

}  // namespace tensorpar
