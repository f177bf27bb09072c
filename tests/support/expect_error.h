#pragma once
// The exception check every suite uses: fn must throw E with `needle` in its message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <typeinfo>

namespace tensorpar::testing {

template <class E, class F>
void expect_error(F&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an exception containing '" << needle << "', none was thrown";
  } catch (const E& e) {
    EXPECT_THAT(std::string(e.what()), ::testing::HasSubstr(needle));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected " << typeid(E).name() << " containing '" << needle << "', got "
                  << typeid(e).name() << ": " << e.what();
  }
}

}  // namespace tensorpar::testing
