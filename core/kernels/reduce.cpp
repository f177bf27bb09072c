// The reduction entry points: argument checks with the messages every device gives, then the
// input's kernel backend (backend.h).
#include "core/kernels/reduce.h"

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Min:
      return "min";
    case ReduceOp::Prod:
      return "prod";
  }
  return "?";
}

Tensor reduce(ReduceOp op, const Tensor& x) {
  const char* what = reduce_name(op);
  require(x, what, "input");
  check_arg(x.numel() > 0 || op == ReduceOp::Sum || op == ReduceOp::Prod, what,
            ": cannot reduce an empty tensor of shape ", shape_text(x.shape()));
  return backend_for(x).reduce_all(op, x);
}

Tensor reduce(ReduceOp op, const Tensor& x, std::int64_t dim, bool keepdim) {
  const char* what = reduce_name(op);
  require(x, what, "input");
  const std::int64_t d = normalize_dim(dim, x.dim(), what);
  const Shape& shape = x.shape();
  Shape out_shape = shape;
  if (keepdim) {
    out_shape[std::size_t(d)] = 1;
  } else {
    out_shape.erase(out_shape.begin() + d);
  }
  check_arg(shape[std::size_t(d)] > 0 || op == ReduceOp::Sum || op == ReduceOp::Prod ||
                numel(out_shape) == 0,
            what, ": cannot reduce dim ", d, " of size 0 (shape ", shape_text(shape), ")");
  return backend_for(x).reduce_dim(op, x, d, keepdim);
}

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  require(x, "sum", "x");
  reduced_mask(x.dim(), dims, "sum");
  return backend_for(x).sum(x, dims, keepdim);
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  require(x, "mean", "x");
  if (x.dtype() != DType::Float32 && x.dtype() != DType::Float64) {
    unsupported_dtype(x.dtype(), "mean");
  }
  reduced_mask(x.dim(), dims, "mean");
  return backend_for(x).mean(x, dims, keepdim);
}

MaxResult max_dim(const Tensor& x, std::int64_t dim, bool keepdim) {
  require(x, "max_dim", "x");
  const Split s = split_at(x.shape(), dim, keepdim, "max_dim");
  check_arg(s.n > 0, "max_dim: dim ", dim, " has size 0 (shape ", shape_text(x.shape()),
            "); the maximum of nothing is undefined");
  return backend_for(x).max_dim(x, dim, keepdim);
}

Tensor max_dim_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape,
                        std::int64_t dim, bool keepdim) {
  const char* what = "max_dim_backward";
  require(grad, what, "grad");
  require(indices, what, "indices");
  const Split s = split_at(input_shape, dim, keepdim, what);
  check_arg(grad.shape() == s.values_shape, what, ": grad is ", shape_text(grad.shape()),
            " but the values of max over dim ", dim, " of ", shape_text(input_shape), " are ",
            shape_text(s.values_shape));
  check_arg(indices.shape() == s.values_shape, what, ": indices is ", shape_text(indices.shape()),
            " but grad is ", shape_text(grad.shape()));
  check_arg(indices.dtype() == DType::Int64, what, ": indices must be int64, got ",
            dtype_name(indices.dtype()));
  return backend_for({&grad, &indices}, {"grad", "indices"}, what)
      .max_dim_backward(grad, indices, input_shape, dim, keepdim);
}

}  // namespace tensorpar::kernels
