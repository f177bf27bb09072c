// The CPU backend's causal mask of scaled dot-product attention and its backward, row by row.
#include <limits>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

// Calls fill(row, from, n) for the entries j > i of every row of a (..., Sq, Sk) tensor: the n
// elements from `from` on of the row starting at element `row`.
template <class F>
void for_each_masked_run(const Tensor& t, F&& fill) {
  const std::int64_t sq = t.size(-2), sk = t.size(-1);
  const std::int64_t rows = sk == 0 ? 0 : t.numel() / sk;
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t i = r % sq;  // the query index of this row
    if (i + 1 >= sk) continue;
    fill(r * sk + i + 1, sk - i - 1);
  }
}

}  // namespace

void CpuBackend::causal_mask_(Tensor& scores) {
  visit_float(scores.dtype(), "causal_mask_", [&]<class T>() {
    T* data = ptr<T>(scores);
    for_each_masked_run(scores, [&](std::int64_t at, std::int64_t n) {
      Map<T>(data + at, n).setConstant(-std::numeric_limits<T>::infinity());
    });
  });
}

void CpuBackend::causal_mask_backward_(Tensor& grad) {
  visit_float(grad.dtype(), "causal_mask_backward_", [&]<class T>() {
    T* data = ptr<T>(grad);
    for_each_masked_run(grad,
                        [&](std::int64_t at, std::int64_t n) { Map<T>(data + at, n).setZero(); });
  });
}

}  // namespace tensorpar::kernels
