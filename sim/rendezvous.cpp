#include "sim/rendezvous.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tensorpar::sim {

namespace {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

std::uint32_t* futex_address(std::atomic<std::uint32_t>& word) {
  return reinterpret_cast<std::uint32_t*>(&word);
}

// Sleeps while *word == expected, for at most `timeout` when given (spurious returns are fine).
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, const timespec* timeout) {
  syscall(SYS_futex, futex_address(word), FUTEX_WAIT_PRIVATE, expected, timeout, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, futex_address(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

FutexBarrier::Outcome FutexBarrier::arrive_and_wait(bool abortable,
                                                    std::optional<Clock::time_point> deadline,
                                                    const WaitPolicy& policy,
                                                    std::uint32_t* generation,
                                                    SleepObserver* observer) {
  std::uint32_t word = word_.load(std::memory_order_acquire);
  if (abortable && (word & kAborted)) return Outcome::Aborted;
  // The generation cannot move before this arrival: the phase needs it.
  const std::uint32_t gen = word & kGeneration;
  if (generation) *generation = gen;
  if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 < parties_) {
    return wait(gen, abortable, deadline, policy, observer);
  }
  count_.store(0, std::memory_order_relaxed);
  for (;;) {
    if (abortable && (word & kAborted)) return Outcome::Aborted;
    const std::uint32_t next = (word & kAborted) | ((word + 1) & kGeneration);
    if (word_.compare_exchange_weak(word, next, std::memory_order_seq_cst,
                                    std::memory_order_acquire)) {
      break;
    }
  }
  if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake(word_);
  return Outcome::Passed;
}

FutexBarrier::Outcome FutexBarrier::wait(std::uint32_t gen, bool abortable,
                                         std::optional<Clock::time_point> deadline,
                                         const WaitPolicy& policy, SleepObserver* observer) {
  auto settled = [&](std::uint32_t word, Outcome* outcome) {
    if ((word & kGeneration) != gen) {
      *outcome = Outcome::Passed;
      return true;
    }
    if (abortable && (word & kAborted)) {
      *outcome = Outcome::Aborted;
      return true;
    }
    return false;
  };
  Outcome outcome;
  const auto start = Clock::now();
  for (unsigned i = 1;; ++i) {
    if (settled(word_.load(std::memory_order_acquire), &outcome)) return outcome;
    cpu_relax();
    if (i % 64 == 0 && Clock::now() - start >= policy.spin) break;
  }
  const auto stop_yielding = start + policy.spin + policy.yield;
  while (Clock::now() < stop_yielding) {
    if (settled(word_.load(std::memory_order_acquire), &outcome)) return outcome;
    sched_yield();
  }
  for (;;) {
    const std::uint32_t word = word_.load(std::memory_order_acquire);
    if (settled(word, &outcome)) return outcome;
    timespec ts{};
    if (deadline) {
      auto left = *deadline - Clock::now();
      if (left <= Clock::duration::zero()) return Outcome::TimedOut;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
    }
    if (observer) {
      // It may abort this barrier (a deadlock): the word then differs and the wait returns.
      std::exchange(observer, nullptr)->before_sleep();
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    futex_wait(word_, word, deadline ? &ts : nullptr);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }
}

FutexBarrier::AbortResult FutexBarrier::abort_if_generation(std::uint32_t generation) {
  std::uint32_t word = word_.load(std::memory_order_acquire);
  for (;;) {
    if ((word & kGeneration) != generation) return AbortResult::Passed;
    if (word & kAborted) return AbortResult::AlreadyAborted;
    if (word_.compare_exchange_weak(word, word | kAborted, std::memory_order_seq_cst,
                                    std::memory_order_acquire)) {
      wake_all();
      return AbortResult::Aborted;
    }
  }
}

void FutexBarrier::abort() {
  word_.fetch_or(kAborted, std::memory_order_seq_cst);
  wake_all();
}

void FutexBarrier::wake_all() { futex_wake(word_); }

}  // namespace tensorpar::sim
