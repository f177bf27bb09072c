// Masked embedding lookup and its scatter-add backward, one contiguous row of D per index.
#include "core/kernels/embedding.h"

#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

void check_indices(const Tensor& indices, const char* what) {
  require(indices, what, "indices");
  check_arg(indices.dtype() == DType::Int64, what, ": indices must be int64, got ",
            dtype_name(indices.dtype()));
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices, std::int64_t row_offset,
                 std::int64_t num_embeddings) {
  const char* what = "embedding";
  require(weight, what, "weight");
  check_indices(indices, what);
  check_arg(weight.dim() == 2, what, ": weight must be 2-D (rows, D), got shape ",
            shape_text(weight.shape()));
  const std::int64_t rows = weight.size(0), D = weight.size(1);
  if (num_embeddings == -1) num_embeddings = rows;
  check_arg(num_embeddings >= 0, what, ": num_embeddings ", num_embeddings,
            " must be non-negative (or -1 for the weight's rows)");
  check_arg(row_offset >= 0 && row_offset + rows <= num_embeddings, what, ": rows [", row_offset,
            ", ", row_offset + rows, ") of the weight exceed a table of ", num_embeddings,
            " embeddings");
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape, weight.dtype());
  visit_float(weight.dtype(), what, [&]<class T>() {
    const std::int64_t* idx = indices.data<std::int64_t>();
    const T* table = weight.data<T>();
    T* dst = out.data<T>();
    for (std::int64_t k = 0; k < indices.numel(); ++k) {
      const std::int64_t i = idx[k];
      check_arg(i >= 0 && i < num_embeddings, what, ": index ", i, " is out of range for ",
                num_embeddings, " embeddings");
      Map<T> row(dst + k * D, D);
      if (i >= row_offset && i < row_offset + rows) {
        row = CMap<T>(table + (i - row_offset) * D, D);
      } else {
        row.setZero();
      }
    }
  });
  return out;
}

Tensor embedding_backward(const Tensor& grad, const Tensor& indices, std::int64_t local_rows,
                          std::int64_t row_offset) {
  const char* what = "embedding_backward";
  require(grad, what, "grad");
  check_indices(indices, what);
  check_arg(local_rows >= 0, what, ": local_rows ", local_rows, " must be non-negative");
  check_arg(row_offset >= 0, what, ": row_offset ", row_offset, " must be non-negative");
  const Shape& ishape = indices.shape();
  check_arg(grad.dim() == indices.dim() + 1 &&
                Shape(grad.shape().begin(), grad.shape().end() - 1) == ishape,
            what, ": grad shape ", shape_text(grad.shape()), " must be indices shape ",
            shape_text(ishape), " + [D]");
  const std::int64_t D = grad.size(-1);
  Tensor out = Tensor::empty({local_rows, D}, grad.dtype());
  visit_float(grad.dtype(), what, [&]<class T>() {
    map<T>(out).setZero();
    const std::int64_t* idx = indices.data<std::int64_t>();
    const T* src = grad.data<T>();
    T* dst = out.data<T>();
    for (std::int64_t k = 0; k < indices.numel(); ++k) {
      const std::int64_t i = idx[k];
      check_arg(i >= 0, what, ": index ", i, " is negative");
      if (i < row_offset || i >= row_offset + local_rows) continue;
      Map<T>(dst + (i - row_offset) * D, D) += CMap<T>(src + k * D, D);
    }
  });
  return out;
}

}  // namespace tensorpar::kernels
