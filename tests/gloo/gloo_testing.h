#pragma once
// Helpers for the gloo suites: W ranks as threads of this process, each with its own
// GlooCommunicator over one shared HashStore and the loopback interface.
#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "core/comm/hash_store.h"
#include "gloo/gloo_communicator.h"
#include "support/rank_threads.h"

namespace tensorpar::gloo_testing {

using namespace std::chrono_literals;

// Runs body(comm, rank) on `world` threads and rethrows the lowest rank's failure. Each thread's
// communicator is destroyed when its body returns.
template <class F>
void run_gloo(int world, F&& body, Milliseconds timeout = 5000ms) {
  auto store = std::make_shared<HashStore>(timeout);
  testing_support::run_rank_threads(world, [&](int r) {
    auto comm = gloo::make_gloo_world(store, r, world, {.timeout = timeout});
    body(*comm, r);
  });
}

}  // namespace tensorpar::gloo_testing
