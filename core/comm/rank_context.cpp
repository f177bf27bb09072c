#include "core/comm/rank_context.h"

#include <mutex>
#include <stdexcept>

#include "core/base/rank_context.h"

namespace tensorpar {

namespace {
// Locked, so that a helper thread handed the rank's context (a watchdog) may read the world
// while the rank runs. Not on any per-op path: meshes read it when they are built.
struct CurrentWorld {
  std::mutex mutex;
  std::shared_ptr<Communicator> world;
};
constexpr RankContext::Slot<CurrentWorld> kWorldSlot{RankSlot::World};

std::shared_ptr<Communicator> exchange_world(std::shared_ptr<Communicator> world) {
  CurrentWorld& current = RankContext::current().get(kWorldSlot);
  std::lock_guard lock(current.mutex);
  current.world.swap(world);
  return world;
}
}  // namespace

Communicator& current_world() { return *current_world_ptr(); }

std::shared_ptr<Communicator> current_world_ptr() {
  CurrentWorld& current = RankContext::current().get(kWorldSlot);
  std::lock_guard lock(current.mutex);
  if (!current.world) {
    throw std::runtime_error(
        "no current world communicator: run inside sim::run(...) or the NCCL launcher");
  }
  return current.world;
}

bool has_current_world() {
  CurrentWorld& current = RankContext::current().get(kWorldSlot);
  std::lock_guard lock(current.mutex);
  return current.world != nullptr;
}

WorldGuard::WorldGuard(std::shared_ptr<Communicator> world)
    : previous_(exchange_world(std::move(world))) {}

WorldGuard::~WorldGuard() { exchange_world(std::move(previous_)); }

}  // namespace tensorpar
