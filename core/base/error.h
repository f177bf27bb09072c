#pragma once
// Error helpers. Bad input raises std::invalid_argument (or std::out_of_range for indices) with a
// message naming the function, the argument and the offending value; broken runtime conditions
// raise std::runtime_error; communication failures raise tensorpar::CommError (communicator.h).
#include <sstream>
#include <stdexcept>
#include <string>

namespace tensorpar {

// Streams every argument into one string: cat("dim ", 3, " out of range") == "dim 3 out of range".
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Throws std::invalid_argument with cat(args...) when `condition` is false.
template <class... Args>
void check_arg(bool condition, const Args&... args) {
  if (!condition) throw std::invalid_argument(cat(args...));
}

// Throws std::runtime_error with cat(args...) when `condition` is false.
template <class... Args>
void check_state(bool condition, const Args&... args) {
  if (!condition) throw std::runtime_error(cat(args...));
}

}  // namespace tensorpar
