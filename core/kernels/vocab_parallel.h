#pragma once
// The vocab-parallel loss pieces (loss_parallel, docs/loss_parallel.md): the class dim of the
// logits is sharded, this rank holds classes [class_offset, class_offset + n_local) of `classes`,
// and the per-position work that touches the target class is done here, on the device. The rest
// of the loss (the row statistics, exp, the reductions) is ordinary ops plus collectives.
//
// Shapes follow the single-device losses (loss.h): a class-sharded input (N, n_local, d1, ...) is
// viewed as [N, n_local, inner] with inner = d1 * ...; its target is Int64 of shape (N, d1, ...)
// and position p = n * inner + k reads local class c at (n, c, k). A 1-D input (n_local) goes with
// a 0-d target: one position. A target equal to ignore_index is skipped everywhere.
//
// Targets are replicated, so every rank sees the same values and raises the same error:
// "<what>: target 16 is out of range for 16 classes" (what names the caller, e.g. cross_entropy).
#include <cstdint>

#include "core/tensor/dtype.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// picked[p] = values[p, t_p - class_offset] where this rank owns t_p (class_offset <= t_p <
// class_offset + n_local) and t_p != ignore_index, else 0. Shape: target's; dtype: values'
// (float32/float64). Every target must be ignore_index or in [0, classes).
// Example: 5 classes on 2 ranks (3 + 2); values on rank 1 (classes 3, 4) are
// [[a3, a4], [b3, b4], [c3, c4]], target [4, 0, 3], class_offset 3:
//   picked = [a4, 0, c3]            (rank 0's picked holds b0; the sum over ranks is the gather)
Tensor gather_class(const Tensor& values, const Tensor& target, std::int64_t class_offset,
                    std::int64_t classes, std::int64_t ignore_index,
                    const char* what = "gather_class");

// w[p] = weight[t_p] (1 when weight is undefined), 0 where t_p == ignore_index: the per-position
// class weights of nll_loss, their sum the mean's denominator. Shape: target's; dtype `dtype`
// (float32/float64, the weight's when defined); on the target's device. Every target must be
// ignore_index or in [0, classes); weight, when defined, is [classes].
// Example: weight [1, 2, 3], target [2, -100, 0], ignore_index -100:  w = [3, 0, 1].
Tensor class_weights(const Tensor& target, const Tensor& weight, std::int64_t classes,
                     std::int64_t ignore_index, DType dtype, const char* what = "class_weights");

// In place: out[p, t_p - class_offset] += src[p] where this rank owns t_p and t_p !=
// ignore_index; every other element is left as it is. out is class-sharded (N, n_local, d1, ...)
// (float32/float64), target its positions, src target's shape in out's dtype. Targets this rank
// does not own (including out-of-range ones) are skipped. The masked scatter of the nll
// backward: src = -weight[t_p] * grad_p.
// Example: out zeros (2, 2) on the rank holding classes 2 and 3, target [3, 0], src [-5, -7],
// class_offset 2:  out = [[0, -5], [0, 0]].
void scatter_class_add_(Tensor& out, const Tensor& target, const Tensor& src,
                        std::int64_t class_offset, std::int64_t ignore_index);

}  // namespace tensorpar::kernels
