#include "core/comm/process_world.h"

#include "core/comm/backend_registry.h"
#include "core/comm/prefix_store.h"
#include "core/comm/tcp_store.h"
#include "core/base/error.h"

namespace tensorpar {

std::shared_ptr<TCPStore> connect_job_store(const ProcessEnv& env, bool host,
                                            std::chrono::milliseconds timeout) {
  try {
    return std::make_shared<TCPStore>(
        env.master_addr,
        TCPStoreOptions{.port = env.master_port, .is_server = host, .timeout = timeout});
  } catch (const std::exception& e) {
    throw std::runtime_error(cat("rank ", env.rank, ": ", e.what()));
  }
}

void rendezvous(Store& store, const ProcessEnv& env, std::chrono::milliseconds timeout) {
  const std::string size = std::to_string(env.world_size);
  // A rank started with another WORLD_SIZE is caught here rather than in a hung collective.
  const StoreBytes mine(size.begin(), size.end());
  const StoreBytes agreed = store.compare_set("init/world_size", {}, mine);
  check_arg(agreed == mine, "rank ", env.rank, ": WORLD_SIZE=", size,
            " differs from the job's WORLD_SIZE=", std::string(agreed.begin(), agreed.end()));
  store.set("init/rank/" + std::to_string(env.rank), mine);
  if (store.add("init/arrived", 1) == env.world_size) store.set("init/complete", mine);
  try {
    store.wait({"init/complete"}, timeout);
  } catch (const StoreTimeoutError&) {
    const std::int64_t arrived = store.add("init/arrived", 0);
    throw StoreTimeoutError(cat("rank ", env.rank, ": init: ", arrived, " of ", env.world_size,
                                " ranks arrived within ", timeout.count(), " ms"));
  }
}

ProcessWorld::ProcessWorld(std::string backend, ProcessWorldOptions options)
    : env_(read_process_env(options.env)),
      backend_(std::move(backend)),
      exit_timeout_(options.exit_timeout) {
  if (backend_.empty()) backend_ = options.env(kBackendEnv).value_or("");
  if (backend_.empty()) backend_ = "gloo";
  check_arg(has_backend(backend_), "rank ", env_.rank, ": backend '", backend_,
            "' is not registered (registered: ", [] {
              std::string names;
              for (const auto& n : registered_backends()) names += (names.empty() ? "" : ", ") + n;
              return names.empty() ? std::string("none") : names;
            }(), "); call the backend's register function before ProcessWorld");
  const bool host = env_.rank == 0 && !env_.store_hosted;
  auto tcp = connect_job_store(env_, host, options.store_timeout);
  store_ = tcp;
  rendezvous(*store_, env_, options.store_timeout);
  try {
    world_ = create_backend(backend_, {.store = std::make_shared<PrefixStore>("backend", store_),
                                       .rank = env_.rank,
                                       .size = env_.world_size,
                                       .timeout = options.collective_timeout});
  } catch (const std::exception& e) {
    throw std::runtime_error(cat("rank ", env_.rank, ": backend '", backend_, "': ", e.what()));
  }
  guard_.emplace(world_);
}

ProcessWorld::~ProcessWorld() {
  guard_.reset();
  world_.reset();
  const bool hosting = env_.rank == 0 && !env_.store_hosted;
  try {
    if (store_->add("exit/left", 1) == env_.world_size) store_->set("exit/all_left", "1");
    if (hosting) store_->wait({"exit/all_left"}, exit_timeout_);
  } catch (const std::exception&) {
    // A peer that died or a store already gone: leaving is all that is left to do.
  }
  store_.reset();
}

}  // namespace tensorpar
