#pragma once
// ProcessWorld: a process joins its job (torchrun's init_process_group for tensorpar).
//
//   int main() {
//     tensorpar::gloo::register_gloo_backend();        // fills the backend registry
//     tensorpar::ProcessWorld world("gloo");           // reads RANK, WORLD_SIZE, MASTER_ADDR, ...
//     DeviceMesh mesh({world.env().world_size});       // current_world() is now the job's world
//     ...
//   }
//
// The constructor reads the environment (process_env.h), reaches the store, meets every other
// rank there, builds the backend's world communicator through the registry
// (backend_registry.h) and makes it the current world of the calling thread's rank context
// (core/base/rank_context.h) until destruction.
//
// The store: under `tensorpar run` (TENSORPAR_STORE_HOSTED=1) the launcher hosts it and every
// rank connects; under torchrun, srun or mpirun, rank 0 hosts it on MASTER_ADDR:MASTER_PORT.
// The destructor of every rank checks out ("exit/" keys) and a hosting rank 0 waits (up to
// exit_timeout) until all have, so its server outlives the others' use of it. The backend sees
// the store under the prefix "backend/".
//
// Failures name the rank and the cause: "rank 3: TCPStore: could not connect to node0:29500
// within 30000 ms: Connection refused"; "rank 1: init: 2 of 4 ranks arrived within 30000 ms".
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/comm/process_env.h"
#include "core/comm/store.h"
#include "core/comm/rank_context.h"

namespace tensorpar {

class TCPStore;

struct ProcessWorldOptions {
  // The store's timeout: connecting, the rendezvous, and every store request.
  std::chrono::milliseconds store_timeout{300000};
  // The default timeout of the world's collectives (a rank stuck in one fails after it).
  std::chrono::milliseconds collective_timeout{300000};
  // How long a rank that hosts the store waits, on destruction, for the others to leave it.
  std::chrono::milliseconds exit_timeout{10000};
  EnvLookup env = system_env;
};

class ProcessWorld {
 public:
  // `backend` empty: $TENSORPAR_BACKEND, else "gloo".
  explicit ProcessWorld(std::string backend = "", ProcessWorldOptions options = {});
  ~ProcessWorld();
  ProcessWorld(const ProcessWorld&) = delete;
  ProcessWorld& operator=(const ProcessWorld&) = delete;

  const ProcessEnv& env() const { return env_; }
  const std::string& backend() const { return backend_; }
  // The job's store (the whole key space; the backend's keys are under "backend/").
  const std::shared_ptr<Store>& store() const { return store_; }
  const std::shared_ptr<Communicator>& world() const { return world_; }

 private:
  ProcessEnv env_;
  std::string backend_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<Communicator> world_;
  std::optional<WorldGuard> guard_;
  std::chrono::milliseconds exit_timeout_;
};

// Connects to (or, with `host`, hosts) the job's TCPStore described by env; errors name the rank.
std::shared_ptr<TCPStore> connect_job_store(const ProcessEnv& env, bool host,
                                            std::chrono::milliseconds timeout);

// Every rank announces itself and waits for all `env.world_size`; the keys live under "init/".
void rendezvous(Store& store, const ProcessEnv& env, std::chrono::milliseconds timeout);

}  // namespace tensorpar
