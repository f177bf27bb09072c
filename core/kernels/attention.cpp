// The causal mask of scaled dot-product attention, applied in place row by row.
#include "core/kernels/attention.h"

#include <limits>

#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

void causal_mask_(Tensor& scores) {
  const char* what = "causal_mask_";
  require(scores, what, "scores");
  check_arg(scores.dim() >= 2, what, ": scores must have at least 2 dims (..., Sq, Sk), got shape ",
            shape_text(scores.shape()));
  const std::int64_t sq = scores.size(-2), sk = scores.size(-1);
  const std::int64_t rows = sk == 0 ? 0 : scores.numel() / sk;
  auto mask = [&]<class T>() {
    T* data = scores.data<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t i = r % sq;  // the query index of this row
      if (i + 1 >= sk) continue;
      Map<T>(data + r * sk + i + 1, sk - i - 1).setConstant(-std::numeric_limits<T>::infinity());
    }
  };
  if (scores.dtype() == DType::Float32) {
    mask.template operator()<float>();
  } else if (scores.dtype() == DType::Float64) {
    mask.template operator()<double>();
  } else {
    check_arg(false, what, ": dtype ", dtype_name(scores.dtype()), " is not supported");
  }
}

}  // namespace tensorpar::kernels
