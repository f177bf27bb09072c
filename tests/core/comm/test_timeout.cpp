#include <gtest/gtest.h>

#include "core/comm/timeout.h"

namespace tensorpar {
namespace {

using namespace std::chrono_literals;

TEST(DeadlineAfter, SaturatesInsteadOfOverflowing) {
  const auto now = DeadlineClock::now();
  EXPECT_EQ(deadline_after(5ms, now), now + 5ms);
  EXPECT_EQ(deadline_after(0ms, now), now);
  EXPECT_EQ(deadline_after(Milliseconds::max(), now), DeadlineClock::time_point::max());
  const auto thousand_years =
      std::chrono::duration_cast<Milliseconds>(std::chrono::hours(24 * 365 * 1000));
  EXPECT_EQ(deadline_after(thousand_years, now), DeadlineClock::time_point::max());
  // The last representable deadline and one past it.
  const auto last = DeadlineClock::time_point::max() - 1ms;
  EXPECT_EQ(deadline_after(1ms, last - 1ms), last);
  EXPECT_EQ(deadline_after(2ms, last), DeadlineClock::time_point::max());
}

TEST(CheckTimeout, NamesTheValue) {
  EXPECT_NO_THROW(check_timeout("Work::wait", std::nullopt));
  EXPECT_NO_THROW(check_timeout("Work::wait", Milliseconds::max()));
  try {
    check_timeout("Work::wait", -7ms);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Work::wait: timeout must be >= 0 ms, got -7 ms");
  }
}

}  // namespace
}  // namespace tensorpar
