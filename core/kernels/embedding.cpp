// The embedding entry points: argument checks with the messages every device gives, then the
// inputs' kernel backend (backend.h).
#include "core/kernels/embedding.h"

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

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
  const std::int64_t rows = weight.size(0);
  if (num_embeddings == -1) num_embeddings = rows;
  check_arg(num_embeddings >= 0, what, ": num_embeddings ", num_embeddings,
            " must be non-negative (or -1 for the weight's rows)");
  check_arg(row_offset >= 0 && row_offset + rows <= num_embeddings, what, ": rows [", row_offset,
            ", ", row_offset + rows, ") of the weight exceed a table of ", num_embeddings,
            " embeddings");
  return backend_for({&weight, &indices}, {"weight", "indices"}, what)
      .embedding(weight, indices, row_offset, num_embeddings);
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
  return backend_for({&grad, &indices}, {"grad", "indices"}, what)
      .embedding_backward(grad, indices, local_rows, row_offset);
}

}  // namespace tensorpar::kernels
