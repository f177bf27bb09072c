#include "core/comm/rank_context.h"

#include <stdexcept>

namespace tensorpar {

namespace {
thread_local std::shared_ptr<Communicator> current;
}  // namespace

Communicator& current_world() { return *current_world_ptr(); }

std::shared_ptr<Communicator> current_world_ptr() {
  if (!current) {
    throw std::runtime_error(
        "no current world communicator: run inside sim::run(...) or the NCCL launcher");
  }
  return current;
}

bool has_current_world() { return current != nullptr; }

WorldGuard::WorldGuard(std::shared_ptr<Communicator> world) : previous_(std::move(current)) {
  current = std::move(world);
}

WorldGuard::~WorldGuard() { current = std::move(previous_); }

}  // namespace tensorpar
