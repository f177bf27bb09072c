// The backend registry: how a process backend becomes the world communicator by name.
#include <gtest/gtest.h>

#include <memory>

#include "core/comm/backend_registry.h"
#include "core/comm/hash_store.h"
#include "core/comm/communicator.h"
#include "core/comm/rank_context.h"
#include "sim/world.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using testing::expect_error;

TEST(BackendRegistry, CreatesTheRegisteredBackendWithTheContext) {
  sim::run(1, [] {
    auto world = current_world_ptr();
    BackendContext seen;
    register_backend("registry_test", [&](const BackendContext& ctx) {
      seen = ctx;
      return world;
    });
    EXPECT_TRUE(has_backend("registry_test"));
    auto store = std::make_shared<HashStore>();
    auto comm = create_backend("registry_test", {.store = store, .rank = 2, .size = 3});
    EXPECT_EQ(comm, world);
    EXPECT_EQ(seen.store, store);
    EXPECT_EQ(seen.rank, 2);
    EXPECT_EQ(seen.size, 3);
  });
}

TEST(BackendRegistry, UnknownBackendListsTheRegisteredOnes) {
  register_backend("registry_listed", [](const BackendContext&) {
    return std::shared_ptr<Communicator>();
  });
  auto store = std::make_shared<HashStore>();
  expect_error<std::invalid_argument>([&] { create_backend("nccl_missing", {.store = store}); },
                                      "unknown backend 'nccl_missing' (registered: ");
  expect_error<std::invalid_argument>([&] { create_backend("nccl_missing", {.store = store}); },
                                      "registry_listed");
}

TEST(BackendRegistry, BadContextAndNullResultAreErrors) {
  register_backend("registry_null", [](const BackendContext&) {
    return std::shared_ptr<Communicator>();
  });
  auto store = std::make_shared<HashStore>();
  expect_error<std::invalid_argument>(
      [&] { create_backend("registry_null", {.store = store, .rank = 3, .size = 3}); },
      "rank must be in [0, 3), got 3");
  expect_error<std::invalid_argument>(
      [&] { create_backend("registry_null", {.store = nullptr}); }, "store must not be null");
  expect_error<std::runtime_error>([&] { create_backend("registry_null", {.store = store}); },
                                   "returned no communicator");
  expect_error<std::invalid_argument>([] { register_backend("", {}); }, "name must not be empty");
}

}  // namespace
}  // namespace tensorpar
