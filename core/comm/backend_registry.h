#pragma once
// The backend registry: how a process-per-rank backend (gloo, nccl) becomes the world
// communicator without core naming it. A backend folder registers a factory under its name;
// init_process_group (env_init.h) looks the name up and calls it with the job's store.
//
//   // in gloo/, once per process before init (see register_gloo_backend() there):
//   tensorpar::register_backend("gloo", [](const BackendContext& ctx) {
//     return std::make_shared<GlooCommunicator>(ctx.store, ctx.rank, ctx.size, ctx.timeout);
//   });
//   // in a program:
//   auto world = tensorpar::create_backend("gloo", {store, rank, size});
//
// A factory receives the store as a shared_ptr because a backend keeps using it after
// construction (split() meets the new group through it). Keys are the backend's to choose; a
// caller that wants a namespace hands it a PrefixStore.
//
// Registration is explicit (a function the backend folder exports, called by the program or the
// launcher's init path), not a static initialiser: a registrar object in a static library is
// dropped by the linker when nothing references its translation unit.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/comm/store.h"

namespace tensorpar {

class Communicator;

// What a backend factory gets: the job's store, this process's rank in the world, the world
// size, and the collectives' default timeout. Fields are appended, never reordered.
struct BackendContext {
  std::shared_ptr<Store> store;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{300000};
};

using BackendFactory = std::function<std::shared_ptr<Communicator>(const BackendContext&)>;

// Registers (or replaces) the factory for `name`. Thread-safe. An empty name or an empty
// factory is std::invalid_argument naming it.
void register_backend(const std::string& name, BackendFactory factory);

// Whether a factory is registered under `name`.
bool has_backend(const std::string& name);

// The registered names, sorted: {"gloo", "test"}.
std::vector<std::string> registered_backends();

// Builds the world communicator of backend `name`. Unknown name: std::invalid_argument
// "unknown backend 'nccl' (registered: gloo, test)". Bad context (rank outside [0, size),
// size < 1, no store): std::invalid_argument naming the field and its value. A factory returning
// nullptr is std::runtime_error.
std::shared_ptr<Communicator> create_backend(const std::string& name, const BackendContext& ctx);

}  // namespace tensorpar
