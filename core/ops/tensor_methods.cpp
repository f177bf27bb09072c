// The Tensor methods that record autograd or follow sharding rules, defined here because they
// need the ops; tensor/tensor.h declares them.
#include "core/autograd/autograd.h"
#include "core/ops/ops.h"

namespace tensorpar {

Tensor Tensor::reshape(const Shape& new_shape) const {
  if (is_distributed() || (requires_grad() && GradMode::is_enabled())) {
    return tensorpar::reshape(*this, new_shape);
  }
  return reshape_view(*this, new_shape);
}

Tensor Tensor::clone() const {
  if (is_distributed() || (requires_grad() && GradMode::is_enabled())) {
    return tensorpar::clone(*this);
  }
  return clone_data(*this);
}

Tensor Tensor::to(DType dtype) const {
  if (is_distributed() || (requires_grad() && GradMode::is_enabled())) {
    return tensorpar::to_dtype(*this, dtype);
  }
  return convert_dtype(*this, dtype);
}

}  // namespace tensorpar
