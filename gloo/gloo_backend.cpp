#include "gloo/gloo_backend.h"

#include <cstdlib>
#include <string>

#include "core/comm/backend_registry.h"
#include "gloo/gloo_communicator.h"

namespace tensorpar::gloo {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

GlooOptions options_from_environment(Milliseconds timeout) {
  GlooOptions o;
  o.timeout = timeout;
  o.iface = env("GLOO_SOCKET_IFNAME");
  const std::string master = env("MASTER_ADDR");
  const bool loopback = master.empty() || master == "localhost" || master.rfind("127.", 0) == 0;
  o.hostname = loopback ? "127.0.0.1" : "";
  return o;
}

}  // namespace

void register_gloo_backend() {
  register_backend("gloo", [](const BackendContext& ctx) -> std::shared_ptr<Communicator> {
    return make_gloo_world(ctx.store, ctx.rank, ctx.size, options_from_environment(ctx.timeout));
  });
}

}  // namespace tensorpar::gloo
