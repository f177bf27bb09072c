#pragma once
// The world communicator of the rank context (core/base/rank_context.h): each rank (a sim thread
// or a process) has a current world communicator. User code builds meshes and DTensors against
// it, which is what lets the same function run under sim::run(4, fn) and under the launcher. A
// helper thread handed the rank's context has the same world.
#include <memory>

#include "core/comm/communicator.h"

namespace tensorpar {

// The rank context's world communicator; throws std::runtime_error when none is set.
Communicator& current_world();
std::shared_ptr<Communicator> current_world_ptr();
bool has_current_world();

// Sets the rank context's world for its lifetime, restoring the previous one afterwards.
class WorldGuard {
 public:
  explicit WorldGuard(std::shared_ptr<Communicator> world);
  ~WorldGuard();
  WorldGuard(const WorldGuard&) = delete;
  WorldGuard& operator=(const WorldGuard&) = delete;

 private:
  std::shared_ptr<Communicator> previous_;
};

}  // namespace tensorpar
