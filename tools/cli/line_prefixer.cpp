#include "tools/cli/line_prefixer.h"

namespace tensorpar::cli {

void LinePrefixer::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(bytes);
      return;
    }
    if (partial_.empty()) {
      emit_(bytes.substr(0, nl));
    } else {
      partial_.append(bytes.substr(0, nl));
      emit_(partial_);
      partial_.clear();
    }
    bytes.remove_prefix(nl + 1);
  }
}

void LinePrefixer::finish() {
  if (!partial_.empty()) emit_(partial_);
  partial_.clear();
}

}  // namespace tensorpar::cli
