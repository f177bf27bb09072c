#include "core/comm/backend_registry.h"

#include <map>
#include <mutex>

#include "core/base/error.h"

namespace tensorpar {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, BackendFactory> factories;
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

void register_backend(const std::string& name, BackendFactory factory) {
  check_arg(!name.empty(), "register_backend: name must not be empty");
  check_arg(static_cast<bool>(factory), "register_backend: factory for '", name,
            "' must not be empty");
  std::lock_guard lock(registry().mutex);
  registry().factories[name] = std::move(factory);
}

bool has_backend(const std::string& name) {
  std::lock_guard lock(registry().mutex);
  return registry().factories.count(name) > 0;
}

std::vector<std::string> registered_backends() {
  std::lock_guard lock(registry().mutex);
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry().factories) names.push_back(name);
  return names;
}

std::shared_ptr<Communicator> create_backend(const std::string& name, const BackendContext& ctx) {
  BackendFactory factory;
  {
    std::lock_guard lock(registry().mutex);
    auto it = registry().factories.find(name);
    if (it != registry().factories.end()) factory = it->second;
  }
  if (!factory) {
    throw std::invalid_argument(
        cat("unknown backend '", name, "' (registered: ", joined(registered_backends()), ")"));
  }
  check_arg(ctx.store != nullptr, "create_backend('", name, "'): store must not be null");
  check_arg(ctx.size >= 1, "create_backend('", name, "'): size must be >= 1, got ", ctx.size);
  check_arg(ctx.rank >= 0 && ctx.rank < ctx.size, "create_backend('", name, "'): rank must be in [0, ",
            ctx.size, "), got ", ctx.rank);
  check_arg(ctx.timeout.count() > 0, "create_backend('", name, "'): timeout must be > 0 ms, got ",
            ctx.timeout.count(), " ms");
  auto comm = factory(ctx);
  check_state(comm != nullptr, "create_backend('", name, "'): the factory returned no communicator");
  return comm;
}

}  // namespace tensorpar
