#pragma once
// User-visible warnings (PyTorch's UserWarning): parallelize_module's unmatched plan keys, an empty
// plan, ... A warning goes to every WarningCapture active on the calling thread; with none active
// it is printed to stderr as "tensorpar warning: <message>".
//
//   WarningCapture capture;
//   parallelize_module(model, mesh, {{"net3", ColwiseParallel()}});
//   capture.messages();   // {"Parallelize plan key 'net3' could not be resolved: ..."}
//
// Captures belong to the rank context (core/base/rank_context.h: a sim rank's thread, or a helper
// thread handed that context) and nest; the innermost one takes the warning.
#include <string>
#include <vector>

namespace tensorpar {

void warn(const std::string& message);

class WarningCapture {
 public:
  WarningCapture();
  ~WarningCapture();
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;

  const std::vector<std::string>& messages() const { return messages_; }
  // Whether some captured warning contains `needle`.
  bool contains(const std::string& needle) const;

 private:
  friend void warn(const std::string& message);
  std::vector<std::string> messages_;
  WarningCapture* previous_ = nullptr;
};

}  // namespace tensorpar
