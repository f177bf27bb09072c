#pragma once
// Pieces of scaled dot-product attention that are not matmuls.
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// In place: entries of scores (..., Sq, Sk) whose key index j exceeds the query index i become
// -inf (is_causal of torch's scaled_dot_product_attention, aligned top-left). For Sq = 2, Sk = 3:
//
//   [[a, b, c],      [[a, -inf, -inf],
//    [d, e, f]]  ->   [d, e,    -inf]]
//
// scores must have at least 2 dims and be Float32 or Float64.
void causal_mask_(Tensor& scores);
// In place, the backward of causal_mask_: the entries causal_mask_ set to -inf get 0 gradient,
//   [[a, b, c],      [[a, 0, 0],
//    [d, e, f]]  ->   [d, e, 0]]
// Any float dtype; grad must have at least 2 dims.
void causal_mask_backward_(Tensor& grad);

}  // namespace tensorpar::kernels
