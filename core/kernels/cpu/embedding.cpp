// The CPU backend's masked embedding lookup and its scatter-add backward, one contiguous row
// of D per index.
#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

Tensor CpuBackend::embedding(const Tensor& weight, const Tensor& indices, std::int64_t row_offset,
                             std::int64_t num_embeddings) {
  const char* what = "embedding";
  const std::int64_t rows = weight.size(0), D = weight.size(1);
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape, weight.dtype(), weight.device());
  visit_float(weight.dtype(), what, [&]<class T>() {
    const std::int64_t* idx = ptr<std::int64_t>(indices);
    const T* table = ptr<T>(weight);
    T* dst = ptr<T>(out);
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

Tensor CpuBackend::embedding_backward(const Tensor& grad, const Tensor& indices,
                                      std::int64_t local_rows, std::int64_t row_offset) {
  const char* what = "embedding_backward";
  const std::int64_t D = grad.size(-1);
  Tensor out = Tensor::empty({local_rows, D}, grad.dtype(), grad.device());
  visit_float(grad.dtype(), what, [&]<class T>() {
    map<T>(out).setZero();
    const std::int64_t* idx = ptr<std::int64_t>(indices);
    const T* src = ptr<T>(grad);
    T* dst = ptr<T>(out);
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
