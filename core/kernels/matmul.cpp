// The matrix-product entry points: argument checks with the messages every device gives, then
// the inputs' kernel backend (backend.h).
#include "core/kernels/matmul.h"

#include <cstring>
#include <string>
#include <vector>

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

namespace {

// " (trans_a)" / " (trans_a, trans_b)" / "" for error messages.
std::string transposes(bool ta, bool tb) {
  if (!ta && !tb) return "";
  return cat(" (", ta ? "trans_a" : "", ta && tb ? ", " : "", tb ? "trans_b" : "", ")");
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const char* what = "matmul";
  require(a, what, "a");
  require(b, what, "b");
  require_same_dtype(a, b, what, "a", "b");
  check_arg(a.dim() >= 2, what, ": a must have at least 2 dims, got ", shape_text(a.shape()));
  check_arg(b.dim() >= 2, what, ": b must have at least 2 dims, got ", shape_text(b.shape()));
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const std::int64_t k = trans_a ? as.end()[-2] : as.end()[-1];
  const std::int64_t kb = trans_b ? bs.end()[-1] : bs.end()[-2];
  check_arg(k == kb, what, ": inner dims differ: a is ", shape_text(as), ", b is ", shape_text(bs),
            transposes(trans_a, trans_b));
  const Shape batch_a(as.begin(), as.end() - 2), batch_b(bs.begin(), bs.end() - 2);
  check_arg(batch_a.empty() || batch_b.empty() || batch_a == batch_b, what,
            ": batch dims differ: a is ", shape_text(as), ", b is ", shape_text(bs),
            "; they must match unless one operand is 2-D");
  return backend_for({&a, &b}, {"a", "b"}, what).matmul(a, b, trans_a, trans_b);
}

namespace {

// The shared checks of linear and linear_backward; returns (rows, in, out).
struct LinearDims {
  std::int64_t rows, in, out;
};

LinearDims check_linear(const Tensor& x, const Tensor& w, const char* what) {
  require(x, what, "x");
  require(w, what, "w");
  require_same_dtype(x, w, what, "x", "w");
  check_arg(w.dim() == 2, what, ": w must be 2-D (out, in), got ", shape_text(w.shape()));
  check_arg(x.dim() >= 1, what, ": x must have at least 1 dim, got ", shape_text(x.shape()));
  check_arg(x.shape().back() == w.shape()[1], what, ": in features differ: x is ",
            shape_text(x.shape()), ", w is ", shape_text(w.shape()));
  return {leading_rows(x.shape()), w.shape()[1], w.shape()[0]};
}

Shape linear_output_shape(const Tensor& x, std::int64_t out) {
  Shape shape = x.shape();
  shape.back() = out;
  return shape;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const char* what = "linear";
  const LinearDims d = check_linear(x, w, what);
  if (bias.defined()) {
    require(bias, what, "bias");
    require_same_dtype(x, bias, what, "x", "bias");
    check_arg(bias.shape() == Shape{d.out}, what, ": bias is ", shape_text(bias.shape()),
              " but w is ", shape_text(w.shape()), "; bias must be [", d.out, "]");
  }
  return backend_for({&x, &w, &bias}, {"x", "w", "bias"}, what).linear(x, w, bias);
}

LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w, bool need_x,
                            bool need_w, bool need_bias) {
  const char* what = "linear_backward";
  const LinearDims d = check_linear(x, w, what);
  require(grad, what, "grad");
  require_same_dtype(grad, x, what, "grad", "x");
  const Shape y_shape = linear_output_shape(x, d.out);
  check_arg(grad.shape() == y_shape, what, ": grad is ", shape_text(grad.shape()), " but linear(x ",
            shape_text(x.shape()), ", w ", shape_text(w.shape()), ") is ", shape_text(y_shape));
  return backend_for({&grad, &x, &w}, {"grad", "x", "w"}, what)
      .linear_backward(grad, x, w, need_x, need_w, need_bias);
}

}  // namespace tensorpar::kernels
