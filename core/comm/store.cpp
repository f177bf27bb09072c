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

std::int64_t parse_store_counter(const char* what, const std::string& key, const StoreBytes& bytes) {
  const std::string text(bytes.begin(), bytes.end());
  std::size_t used = 0;
  std::int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty()) {
    throw std::invalid_argument(std::string(what) + ": key \"" + key +
                                "\" holds a value that is not an integer: \"" + text + "\"");
  }
  return value;
}

}  // namespace tensorpar
