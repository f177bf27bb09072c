#pragma once
// Helpers for the sim suites: typed tensors from closed-form values, and exception checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/comm/rank_context.h"
#include "core/ops/ops.h"
#include "sim/world.h"

namespace tensorpar::sim_testing {

// A 1-D tensor of `dtype` whose element i is value(i).
inline Tensor make(std::int64_t n, DType dtype, const std::function<double(std::int64_t)>& value) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = value(i);
  return from_vector<double>(v, {n}).to(dtype);
}

inline std::vector<double> values(const Tensor& t) { return to_vector<double>(t); }

inline std::vector<double> expected(std::int64_t n,
                                    const std::function<double(std::int64_t)>& value) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = value(i);
  return v;
}

// The message of what fn throws as E ("" and a test failure when it throws nothing or else).
template <class E, class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected " << typeid(E).name() << ", got " << typeid(e).name() << ": "
                  << e.what();
    return "";
  }
  ADD_FAILURE() << "expected " << typeid(E).name() << ", nothing was thrown";
  return "";
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tensorpar::sim_testing
