#pragma once
// The registry through which loss_parallel (styles/loss_parallel.h) takes over log_softmax,
// nll_loss and cross_entropy on DTensors. Core must not depend on styles, so these three ops
// ask the rank's registry first, like PyTorch's custom DTensor op handlers:
//
//   log_softmax(x, 1)          plain x, or no handlers installed: the op's own sharding rule
//                              DTensor x with handlers:          handlers->log_softmax(x, 1)
//
// The registry belongs to the rank context (core/base/rank_context.h; a sim rank is a thread, an
// NCCL rank a process), so every rank installs its own handlers. It holds a borrowed pointer:
// whoever installs handlers keeps them alive and restores the previous ones
// (styles/loss_parallel.h does both in an RAII scope).
#include <cstdint>

#include "core/tensor/tensor.h"
#include "core/ops/ops.h"

namespace tensorpar {

class LossParallelHandlers {
 public:
  virtual ~LossParallelHandlers() = default;
  // Called with a DTensor `x` and `dim` already normalised (0 <= dim < x.dim()).
  virtual Tensor log_softmax(const Tensor& x, std::int64_t dim) const = 0;
  // Called with a DTensor `log_probs` / `logits` and a defined int64 `target`.
  virtual Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                          const CrossEntropyOptions& options) const = 0;
  virtual Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                               const CrossEntropyOptions& options) const = 0;
};

// This thread's installed handlers, or null.
const LossParallelHandlers* active_loss_parallel_handlers();
// Installs `handlers` on this thread (null uninstalls) and returns the previous ones.
const LossParallelHandlers* set_loss_parallel_handlers(const LossParallelHandlers* handlers);

}  // namespace tensorpar
