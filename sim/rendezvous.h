#pragma once
// FutexBarrier: the reusable rendezvous under every sim collective.
//
// One 32-bit futex word holds the generation (low 31 bits) and an "aborted" bit (bit 31); a
// separate counter counts arrivals. The last of `parties` arrivals resets the counter and bumps
// the generation with one CAS, then wakes sleepers. Waiters spin briefly, yield a bounded number
// of times, then sleep in FUTEX_WAIT on the exact word value they last saw, so a new generation
// or an abort (both change the word) can never be missed.
//
//   gen 7, parties 3:  A arrives (count 1), waits on word 7; B arrives (count 2), waits;
//                      C arrives (count 3): count = 0, word 7 -> 8, FUTEX_WAKE; A, B see 8, pass.
//   abort():           word 7 -> 7|aborted, FUTEX_WAKE; abortable waiters fail, and the last
//                      arrival refuses to bump the generation, so either everyone passes phase 7
//                      or nobody does.
//
// Phases are abortable or not. A completion phase (after which no rank touches another rank's
// buffers) is not: every rank is guaranteed to reach it, and letting one leave early would let it
// free a buffer a peer is still reading. Memory ordering: arrival is an acq_rel RMW on the counter
// and the generation bump a release CAS observed with acquire loads, so everything a rank wrote
// before arriving happens-before everything any rank does after passing.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace tensorpar::sim {

using Clock = std::chrono::steady_clock;

// How long a waiter stays awake before sleeping in the kernel: it polls with the pause
// instruction for `spin`, then with sched_yield() (letting other rank threads of an oversubscribed
// machine run) until `spin + yield` has passed since it started waiting.
struct WaitPolicy {
  std::chrono::nanoseconds spin{20000};
  std::chrono::nanoseconds yield{50000};
};

// Told once when a waiter stops spinning and is about to sleep in the kernel (the deadlock
// detector registers waits only then, so fast phases never reach it).
class SleepObserver {
 public:
  virtual void before_sleep() = 0;

 protected:
  ~SleepObserver() = default;
};

class FutexBarrier {
 public:
  enum class Outcome { Passed, Aborted, TimedOut };

  explicit FutexBarrier(int parties) : parties_(parties) {}
  FutexBarrier(const FutexBarrier&) = delete;
  FutexBarrier& operator=(const FutexBarrier&) = delete;

  // Arrives and waits for the other parties. An abortable phase fails at once when the barrier
  // is or becomes aborted; a non-abortable one ignores the bit. TimedOut leaves the barrier
  // untouched: the caller decides with abort_if_generation(*generation).
  Outcome arrive_and_wait(bool abortable, std::optional<Clock::time_point> deadline,
                          const WaitPolicy& policy, std::uint32_t* generation,
                          SleepObserver* observer = nullptr);

  enum class AbortResult { Aborted, AlreadyAborted, Passed };
  // Aborts unless `generation` completed meanwhile (Passed): resolves a timeout racing with the
  // last arrival so that either everyone passes or nobody does.
  AbortResult abort_if_generation(std::uint32_t generation);
  // Sets the aborted bit (idempotent) and wakes every waiter.
  void abort();
  bool aborted() const { return (word_.load(std::memory_order_acquire) & kAborted) != 0; }

 private:
  static constexpr std::uint32_t kAborted = 0x80000000u;
  static constexpr std::uint32_t kGeneration = 0x7fffffffu;

  Outcome wait(std::uint32_t generation, bool abortable, std::optional<Clock::time_point> deadline,
               const WaitPolicy& policy, SleepObserver* observer);
  void wake_all();

  const int parties_;
  alignas(64) std::atomic<std::uint32_t> word_{0};
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<int> sleepers_{0};
};

}  // namespace tensorpar::sim
