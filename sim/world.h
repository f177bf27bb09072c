#pragma once
// The simulated multi-rank backend: W ranks as threads of one process, sharing memory.
//
//   auto sums = sim::run(4, [](int rank) {
//     Tensor t = full({1}, rank + 1.0);
//     current_world().all_reduce(t)->wait();   // every rank: [10]
//     return t.item();
//   });
//
// Each rank thread gets a rank context of its own (core/base/rank_context.h: grad mode, generator,
// plan caches, scopes, current device and mesh), with a SimCommunicator over the whole world as
// its current world (core/comm/rank_context.h); a helper thread the rank hands its context to
// acts as that rank. run() returns each rank's result in rank order, or rethrows the first failure
// as a RankFailure naming the rank. A failure on one rank aborts the others' pending and future
// collectives with a CommError instead of leaving them hanging.
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/comm/communicator.h"
#include "sim/wait_graph.h"

namespace tensorpar::sim {

struct RunOptions {
  // Default timeout of every collective of the run (a rank waiting longer for its peers fails
  // with CommTimeoutError naming the missing ranks).
  Milliseconds timeout{60000};
  // Fail a cycle of ranks waiting on each other (recv, collectives, split) within milliseconds
  // with sim::DeadlockError naming the cycle, instead of after the timeout (wait_graph.h).
  bool detect_deadlocks = true;
};

// The first failure of a run: which rank, and what it threw.
class RankFailure : public std::runtime_error {
 public:
  RankFailure(int rank, std::exception_ptr cause, const std::string& what)
      : std::runtime_error(what), rank_(rank), cause_(std::move(cause)) {}
  int rank() const { return rank_; }
  std::exception_ptr cause() const { return cause_; }
  // Rethrows the original exception (for EXPECT_THROW on its type).
  [[noreturn]] void rethrow_cause() const { std::rethrow_exception(cause_); }

 private:
  int rank_;
  std::exception_ptr cause_;
};

// Runs body(rank) on world_size rank threads (1 <= world_size <= 1024) and waits for all.
// Throws RankFailure with the earliest failure; std::invalid_argument for a bad world_size.
void run_ranks(int world_size, const std::function<void(int)>& body, const RunOptions& options);

// Runs fn on world_size ranks: fn may take (int rank) or nothing, and return a value or void.
template <class F>
auto run(int world_size, F&& fn, const RunOptions& options = {}) {
  constexpr bool takes_rank = std::is_invocable_v<F&, int>;
  using R = std::conditional_t<takes_rank, std::invoke_result<F&, int>, std::invoke_result<F&>>;
  using Result = typename R::type;
  auto call = [&fn](int rank) -> decltype(auto) {
    if constexpr (takes_rank) return fn(rank);
    else return fn();
  };
  if constexpr (std::is_void_v<Result>) {
    run_ranks(world_size, [&](int rank) { call(rank); }, options);
  } else {
    std::vector<std::optional<Result>> slots(world_size);
    run_ranks(world_size, [&](int rank) { slots[rank].emplace(call(rank)); }, options);
    std::vector<Result> results;
    results.reserve(slots.size());
    for (auto& s : slots) results.push_back(std::move(*s));
    return results;
  }
}

}  // namespace tensorpar::sim
