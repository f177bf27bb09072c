#pragma once
// An allocation the device could not serve, naming what was asked for: "out of memory: cannot
// allocate 80000000000 bytes for a [100000, 100000] float64 tensor on cpu". Tensor::empty throws
// it; it is a std::bad_alloc, so code that catches bad_alloc still does.
#include <new>
#include <string>
#include <utility>

namespace tensorpar {

class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

}  // namespace tensorpar
