#include "core/nn/init.h"

#include "core/base/error.h"
#include "core/kernels/elementwise.h"

namespace tensorpar::nn::init {

namespace {

// x <- a + b * x, element-wise on a fresh dense float tensor.
Tensor affine_(Tensor t, double a, double b, const char* what) {
  kernels::affine_(t, a, b, what);
  return t.requires_grad_(true);
}

}  // namespace

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  check_arg(low <= high, "init::uniform: low ", low, " exceeds high ", high);
  return affine_(rand(shape, gen, dtype), low, high - low, "init::uniform");
}

Tensor normal(const Shape& shape, double mean, double std, Generator& gen, DType dtype) {
  check_arg(std >= 0, "init::normal: std must be non-negative, got ", std);
  return affine_(randn(shape, gen, dtype), mean, std, "init::normal");
}

Tensor constant(const Shape& shape, double value, DType dtype) {
  return full(shape, value, dtype).requires_grad_(true);
}

}  // namespace tensorpar::nn::init
