#include "core/comm/store.h"

#include <sstream>

namespace tensorpar {

void Store::set_timeout(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) {
    throw std::invalid_argument("Store::set_timeout: timeout must be >= 0 ms, got " +
                                std::to_string(timeout.count()) + " ms");
  }
  timeout_ = timeout;
}

std::string store_timeout_message(const char* what, const std::vector<std::string>& keys,
                                  std::chrono::milliseconds timeout) {
  std::ostringstream os;
  os << what << ": timed out after " << timeout.count() << " ms waiting for keys [";
  for (std::size_t i = 0; i < keys.size(); ++i) os << (i ? ", " : "") << '"' << keys[i] << '"';
  os << "]";
  return os.str();
}

}  // namespace tensorpar
