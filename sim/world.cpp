#include "sim/world.h"

#include <atomic>
#include <numeric>
#include <system_error>
#include <thread>

#include "core/base/error.h"
#include "core/base/rank_context.h"
#include "core/comm/rank_context.h"
#include "sim/group.h"
#include "sim/sim_communicator.h"

namespace tensorpar::sim {

namespace {

constexpr int kMaxWorldSize = 1024;

// What one rank threw. `order` ranks failures by when they were caught; `consequence` marks the
// CommAbortedError of a rank that only failed because another one did.
struct Failure {
  std::exception_ptr error;
  std::string what;
  std::uint64_t order = 0;
  bool consequence = false;
};

Failure describe(std::exception_ptr error, std::uint64_t order) {
  Failure f{error, "unknown exception", order, false};
  try {
    std::rethrow_exception(error);
  } catch (const CommAbortedError& e) {
    f.what = e.what();
    f.consequence = true;
  } catch (const std::exception& e) {
    f.what = e.what();
  } catch (...) {
  }
  return f;
}

}  // namespace

void run_ranks(int world_size, const std::function<void(int)>& body, const RunOptions& options) {
  check_arg(world_size >= 1 && world_size <= kMaxWorldSize, "sim::run: world_size must be in [1, ",
            kMaxWorldSize, "], got ", world_size);
  check_arg(options.timeout.count() > 0, "sim::run: timeout must be positive, got ",
            options.timeout.count(), " ms");
  auto world = std::make_shared<WorldState>(world_size, options.timeout, options.detect_deadlocks);
  std::vector<int> ranks(world_size);
  std::iota(ranks.begin(), ranks.end(), 0);
  auto group = world->create_group(std::move(ranks));

  std::vector<std::optional<Failure>> failures(world_size);
  std::atomic<std::uint64_t> next_order{0};
  auto rank_main = [&](int rank) {
    try {
      // Each rank starts from a fresh context (grad mode on, generator seeded 0, empty plan
      // caches, no scopes), whatever the calling thread had set.
      RankContextGuard context(RankContext::create());
      WorldGuard guard(std::make_shared<SimCommunicator>(group, rank));
      body(rank);
    } catch (...) {
      failures[rank] = describe(std::current_exception(), next_order.fetch_add(1));
      world->fail(rank, failures[rank]->what);
    }
    world->rank_exited(rank);
  };

  std::vector<std::thread> threads;
  threads.reserve(world_size);
  std::exception_ptr spawn_error;
  for (int r = 0; r < world_size; ++r) {
    try {
      threads.emplace_back(rank_main, r);
    } catch (const std::system_error& e) {
      spawn_error = std::make_exception_ptr(std::runtime_error(
          cat("sim::run: could not start the thread of rank ", r, ": ", e.what())));
      for (int missing = r; missing < world_size; ++missing) world->rank_exited(missing);
      break;
    }
  }
  for (auto& t : threads) t.join();
  world->end();
  if (spawn_error) std::rethrow_exception(spawn_error);

  // The root cause: the earliest failure that is not a consequence of another one.
  int chosen = -1;
  for (int r = 0; r < world_size; ++r) {
    if (!failures[r]) continue;
    if (chosen < 0) {
      chosen = r;
      continue;
    }
    const Failure& a = *failures[r];
    const Failure& b = *failures[chosen];
    if (std::pair{a.consequence, a.order} < std::pair{b.consequence, b.order}) chosen = r;
  }
  if (chosen >= 0) {
    const Failure& f = *failures[chosen];
    throw RankFailure(chosen, f.error, cat("rank ", chosen, " failed: ", f.what));
  }
}

}  // namespace tensorpar::sim
