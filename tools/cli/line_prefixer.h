#pragma once
// Splits a worker's output stream into lines and hands each one over whole, so lines of
// different ranks never interleave mid-line:  "loss 1.5\nst" + "ep 2\n"  ->  "loss 1.5", "step 2".
#include <functional>
#include <string>
#include <string_view>

namespace tensorpar::cli {

class LinePrefixer {
 public:
  // `emit` receives each complete line without its '\n'.
  explicit LinePrefixer(std::function<void(std::string_view)> emit) : emit_(std::move(emit)) {}

  void feed(std::string_view bytes);
  // At end of stream: a last line without '\n' is emitted as a line.
  void finish();

 private:
  std::function<void(std::string_view)> emit_;
  std::string partial_;
};

}  // namespace tensorpar::cli
