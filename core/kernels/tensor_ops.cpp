// The tensor-layer arithmetic members (declared in core/tensor/tensor.h), defined here because
// they run kernels, and the checked cat kernel: argument checks, then the tensors' kernel backend.
#include "core/kernels/backend.h"
#include "core/kernels/common.h"
#include "core/kernels/layout.h"

namespace tensorpar {

Tensor& Tensor::add_(const Tensor& other) {
  kernels::binary_(kernels::BinaryOp::Add, *this, other, "add_");
  return *this;
}

Tensor& Tensor::mul_(double s) {
  kernels::binary_scalar_(kernels::BinaryOp::Mul, *this, s, "mul_");
  return *this;
}

Tensor& Tensor::div_(double s) {
  kernels::binary_scalar_(kernels::BinaryOp::Div, *this, s, "div_");
  return *this;
}

}  // namespace tensorpar

namespace tensorpar::kernels {

Shape cat_shape(const std::vector<Tensor>& tensors, std::int64_t dim, std::int64_t* normalized) {
  check_arg(!tensors.empty(), "cat: expects at least one tensor");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_arg(tensors[i].defined(), "cat: tensors[", i, "] is undefined");
    check_arg(tensors[i].device() == tensors[0].device(),
              "cat: tensors on different devices: ", "tensors[0] is ",
              device_str(tensors[0].device()), ", tensors[", i, "] is ",
              device_str(tensors[i].device()));
  }
  const Tensor& first = tensors[0];
  const std::int64_t ndim = first.dim();
  const std::int64_t d = normalize_dim(dim, ndim, "cat");
  Shape shape = first.shape();
  shape[std::size_t(d)] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_arg(t.dtype() == first.dtype(), "cat: tensors[", i, "] has dtype ", dtype_name(t.dtype()),
              " but tensors[0] has dtype ", dtype_name(first.dtype()));
    bool same = t.dim() == ndim;
    for (std::int64_t k = 0; same && k < ndim; ++k) {
      same = k == d || t.shape()[std::size_t(k)] == first.shape()[std::size_t(k)];
    }
    check_arg(same, "cat: tensors[", i, "] has shape ", shape_text(t.shape()),
              " but tensors[0] has shape ", shape_text(first.shape()), " (only dim ", d,
              " may differ)");
    shape[std::size_t(d)] += t.shape()[std::size_t(d)];
  }
  if (normalized != nullptr) *normalized = d;
  return shape;
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  std::int64_t d = 0;
  const Shape shape = cat_shape(tensors, dim, &d);
  return backend_for(tensors[0]).cat(tensors, d, shape);
}

}  // namespace tensorpar::kernels
