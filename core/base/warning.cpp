#include "core/base/warning.h"

#include <iostream>

#include "core/base/rank_context.h"

namespace tensorpar {

namespace {
struct WarningState {
  WarningCapture* innermost = nullptr;
};
constexpr RankContext::Slot<WarningState> kWarnings{RankSlot::Warnings};

WarningCapture*& innermost_capture() { return RankContext::current().get(kWarnings).innermost; }
}  // namespace

void warn(const std::string& message) {
  if (WarningCapture* capture = innermost_capture()) {
    capture->messages_.push_back(message);
    return;
  }
  std::cerr << "tensorpar warning: " << message << '\n';
}

WarningCapture::WarningCapture() : previous_(innermost_capture()) { innermost_capture() = this; }

WarningCapture::~WarningCapture() { innermost_capture() = previous_; }

bool WarningCapture::contains(const std::string& needle) const {
  for (const auto& m : messages_) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace tensorpar
