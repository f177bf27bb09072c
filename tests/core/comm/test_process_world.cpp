// ProcessWorld: ranks meet through the TCPStore and install the backend's world communicator.
// Ranks are threads here (each with its own environment); tests/tools covers real processes.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "core/comm/backend_registry.h"
#include "core/comm/process_world.h"
#include "core/comm/tcp_store.h"
#include "core/comm/tcp_store_server.h"
#include "core/comm/communicator.h"
#include "sim/world.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using namespace std::chrono_literals;
using testing::expect_error;

EnvLookup env_of(int rank, int size, std::uint16_t port, bool hosted) {
  std::map<std::string, std::string> vars = {{"RANK", std::to_string(rank)},
                                             {"WORLD_SIZE", std::to_string(size)},
                                             {"MASTER_ADDR", "127.0.0.1"},
                                             {"MASTER_PORT", std::to_string(port)}};
  if (hosted) vars["TENSORPAR_STORE_HOSTED"] = "1";
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::uint16_t free_port() {
  TCPStoreServer probe({.host = "127.0.0.1"});
  return probe.port();
}

// The "sim_rank" backend hands each rank thread its simulated world: what matters here is the
// store side and that the result becomes the current world.
void register_sim_rank_backend() {
  register_backend("sim_rank", [](const BackendContext& ctx) {
    auto world = current_world_ptr();
    check_state(world->rank() == ctx.rank && world->size() == ctx.size, "rank mismatch");
    ctx.store->set("seen/" + std::to_string(ctx.rank), std::string("1"));
    return world;
  });
}

TEST(ProcessWorld, RankZeroHostsTheStoreAndEveryRankGetsItsWorld) {
  register_sim_rank_backend();
  const std::uint16_t port = free_port();
  sim::run(3, [&](int rank) {
    auto sim_world = current_world_ptr();
    ProcessWorld world("sim_rank", {.store_timeout = 5s, .env = env_of(rank, 3, port, false)});
    EXPECT_EQ(&current_world(), sim_world.get());
    EXPECT_EQ(world.env().rank, rank);
    EXPECT_EQ(world.backend(), "sim_rank");
    world.store()->wait({"backend/seen/0", "backend/seen/1", "backend/seen/2"});
    // The destructors check out; the host (rank 0) leaves last.
  });
}

TEST(ProcessWorld, TheHostingRankWaitsForTheOthersToLeave) {
  register_sim_rank_backend();
  const std::uint16_t port = free_port();
  std::atomic<bool> host_left{false};
  sim::run(2, [&](int rank) {
    {
      ProcessWorld world("sim_rank", {.store_timeout = 5s, .env = env_of(rank, 2, port, false)});
      if (rank == 1) {
        std::this_thread::sleep_for(100ms);  // still using the store
        EXPECT_FALSE(host_left.load());
        world.store()->set("late", "1");
      }
    }
    if (rank == 0) host_left = true;
  });
}

TEST(ProcessWorld, ConnectsToAStoreTheLauncherHosts) {
  register_sim_rank_backend();
  TCPStoreServer launcher({.host = "127.0.0.1"});
  sim::run(2, [&](int rank) {
    ProcessWorld world("sim_rank",
                       {.store_timeout = 5s, .env = env_of(rank, 2, launcher.port(), true)});
    EXPECT_EQ(world.world()->size(), 2);
  });
}

TEST(ProcessWorld, AMissingRankTimesOutNamingTheCount) {
  register_sim_rank_backend();
  TCPStoreServer launcher({.host = "127.0.0.1"});
  sim::run(1, [&] {
    expect_error<StoreTimeoutError>(
        [&] {
          ProcessWorld world("sim_rank",
                             {.store_timeout = 300ms, .env = env_of(0, 2, launcher.port(), true)});
        },
        "rank 0: init: 1 of 2 ranks arrived within 300 ms");
  });
}

TEST(ProcessWorld, AnUnreachableStoreNamesTheRankAndAddress) {
  register_sim_rank_backend();
  const std::uint16_t port = free_port();
  expect_error<std::runtime_error>(
      [&] {
        ProcessWorld world("sim_rank", {.store_timeout = 200ms, .env = env_of(1, 2, port, true)});
      },
      "rank 1: TCPStore: could not connect to 127.0.0.1:" + std::to_string(port));
}

TEST(ProcessWorld, AnUnregisteredBackendIsNamed) {
  expect_error<std::invalid_argument>(
      [&] { ProcessWorld world("nccl_absent", {.env = env_of(0, 1, 1, true)}); },
      "rank 0: backend 'nccl_absent' is not registered");
}

TEST(ProcessWorld, DifferentWorldSizesAreCaught) {
  register_sim_rank_backend();
  TCPStoreServer launcher({.host = "127.0.0.1"});
  TCPStore first("127.0.0.1", {.port = launcher.port(), .timeout = 2s});
  first.set("init/world_size", std::string("4"));
  expect_error<std::invalid_argument>(
      [&] {
        ProcessWorld world("sim_rank",
                           {.store_timeout = 1s, .env = env_of(1, 2, launcher.port(), true)});
      },
      "rank 1: WORLD_SIZE=2 differs from the job's WORLD_SIZE=4");
}

}  // namespace
}  // namespace tensorpar
