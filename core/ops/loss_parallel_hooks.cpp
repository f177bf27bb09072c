#include "core/ops/loss_parallel_hooks.h"

namespace tensorpar {

namespace {
thread_local const LossParallelHandlers* t_handlers = nullptr;
}  // namespace

const LossParallelHandlers* active_loss_parallel_handlers() { return t_handlers; }

const LossParallelHandlers* set_loss_parallel_handlers(const LossParallelHandlers* handlers) {
  const LossParallelHandlers* previous = t_handlers;
  t_handlers = handlers;
  return previous;
}

}  // namespace tensorpar
