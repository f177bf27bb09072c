#pragma once
// Timeouts as deadlines. A timeout is a duration >= 0; one that reaches past the clock's range
// (Milliseconds::max() included) means no deadline, never an overflowed one in the past.
#include <chrono>
#include <optional>

#include "core/base/error.h"

namespace tensorpar {

using Milliseconds = std::chrono::milliseconds;
using DeadlineClock = std::chrono::steady_clock;

// now + timeout, or DeadlineClock::time_point::max() when that sum would overflow. A negative
// timeout gives `now` (callers reject negative timeouts before they get here).
inline DeadlineClock::time_point deadline_after(
    Milliseconds timeout, DeadlineClock::time_point now = DeadlineClock::now()) {
  if (timeout <= Milliseconds::zero()) return now;
  // Compared in milliseconds: Milliseconds::max() in the clock's nanoseconds would overflow.
  const auto room =
      std::chrono::duration_cast<Milliseconds>(DeadlineClock::time_point::max() - now);
  if (timeout >= room) return DeadlineClock::time_point::max();
  return now + timeout;
}

// Throws std::invalid_argument naming `what` and the value when `timeout` is negative:
//   "Work::wait: timeout must be >= 0 ms, got -3 ms"
inline void check_timeout(const char* what, std::optional<Milliseconds> timeout) {
  check_arg(!timeout || timeout->count() >= 0, what, ": timeout must be >= 0 ms, got ",
            timeout ? timeout->count() : 0, " ms");
}

}  // namespace tensorpar
