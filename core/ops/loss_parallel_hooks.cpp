#include "core/ops/loss_parallel_hooks.h"

#include "core/base/rank_context.h"

namespace tensorpar {

namespace {
struct LossParallelState {
  const LossParallelHandlers* handlers = nullptr;
};
constexpr RankContext::Slot<LossParallelState> kLossParallelSlot{RankSlot::LossParallel};
}  // namespace

const LossParallelHandlers* active_loss_parallel_handlers() {
  return RankContext::current().get(kLossParallelSlot).handlers;
}

const LossParallelHandlers* set_loss_parallel_handlers(const LossParallelHandlers* handlers) {
  LossParallelState& state = RankContext::current().get(kLossParallelSlot);
  const LossParallelHandlers* previous = state.handlers;
  state.handlers = handlers;
  return previous;
}

}  // namespace tensorpar
