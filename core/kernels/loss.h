#pragma once
// Cross-entropy and negative log-likelihood losses with torch's conventions (F.cross_entropy,
// F.nll_loss): classes on dim 1, optional class weights, ignore_index and a reduction.
//
// logits (N, C) or (N, C, d1, ...) (or (C) with a 0-d target); target Int64 of shape (N) or
// (N, d1, ...); weight [C] or undefined (all ones). For every target position i:
//
//   loss_i = -w[t_i] * log_softmax(logits)_i[t_i],   0 where t_i == ignore_index
//
// Reduction none keeps the per-position losses (target's shape); sum adds them; mean divides the
// sum by total_weight = sum of w[t_i] over non-ignored positions (NaN when every position is
// ignored, like torch). Example: logits [[0, 0], [0, ln 3]], target [0, 1], w = [1, 3]:
// losses [ln 2, 3 ln(4/3)], total_weight 4, mean (ln 2 + 3 ln(4/3)) / 4.
#include <cstdint>
#include <string>

#include "core/kernels/reduction.h"
#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

struct CrossEntropyResult {
  Tensor loss;          // target's shape for none, 0-d for mean and sum
  Tensor log_probs;     // log_softmax(logits, 1), kept for the backward
  Tensor total_weight;  // 0-d, the mean's denominator
};

CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                 std::int64_t ignore_index, Reduction reduction);
// Gradient w.r.t. the logits: (exp(log_probs) - onehot(t_i)) * w[t_i] * g_i, where g_i is
// grad[i] (none), grad (sum) or grad / total_weight (mean); rows of ignored positions are 0.
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& target,
                              const Tensor& weight, std::int64_t ignore_index, Reduction reduction,
                              const Tensor& total_weight);
// The same loss on given log-probabilities (log_softmax and the loss as separate ops); the result's
// log_probs field is the input.
CrossEntropyResult nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                            std::int64_t ignore_index, Reduction reduction);
// Gradient w.r.t. the log-probabilities (input_shape, dtype): -w[t_i] * g_i at class t_i of
// position i, 0 elsewhere.
Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, const Tensor& weight,
                         std::int64_t ignore_index, Reduction reduction, const Tensor& total_weight,
                         const Shape& input_shape, DType dtype);

}  // namespace tensorpar::kernels
