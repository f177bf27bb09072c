#pragma once
// W ranks as threads of this process, for the suites of the process backends (gloo, nccl) and
// the rendezvous behind them: body(rank) runs on `world` threads, and the lowest rank's failure
// is rethrown once every thread has returned.
#include <exception>
#include <thread>
#include <vector>

namespace tensorpar::testing_support {

template <class F>
void run_rank_threads(int world, F&& body) {
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace tensorpar::testing_support
