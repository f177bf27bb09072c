#include "core/base/warning.h"

#include <iostream>

namespace tensorpar {

namespace {
thread_local WarningCapture* innermost_capture = nullptr;
}  // namespace

void warn(const std::string& message) {
  if (innermost_capture != nullptr) {
    innermost_capture->messages_.push_back(message);
    return;
  }
  std::cerr << "tensorpar warning: " << message << '\n';
}

WarningCapture::WarningCapture() : previous_(innermost_capture) { innermost_capture = this; }

WarningCapture::~WarningCapture() { innermost_capture = previous_; }

bool WarningCapture::contains(const std::string& needle) const {
  for (const auto& m : messages_) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace tensorpar
