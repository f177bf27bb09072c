#include "gloo/store_adapter.h"

#include <stdexcept>

namespace tensorpar::gloo {

StoreAdapter::StoreAdapter(std::shared_ptr<tensorpar::Store> store, std::string prefix)
    : store_(std::move(store)), prefix_(std::move(prefix)) {
  if (!store_) throw std::invalid_argument("StoreAdapter: store is null");
}

void StoreAdapter::set(const std::string& key, const std::vector<char>& data) {
  store_->set(prefix_ + key, StoreBytes(data.begin(), data.end()));
}

std::vector<char> StoreAdapter::get(const std::string& key) {
  StoreBytes value = store_->get(prefix_ + key);
  return std::vector<char>(value.begin(), value.end());
}

void StoreAdapter::wait(const std::vector<std::string>& keys) { store_->wait(prefixed(keys)); }

void StoreAdapter::wait(const std::vector<std::string>& keys,
                        const std::chrono::milliseconds& timeout) {
  store_->wait(prefixed(keys), timeout);
}

std::vector<std::string> StoreAdapter::prefixed(const std::vector<std::string>& keys) const {
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const auto& k : keys) out.push_back(prefix_ + k);
  return out;
}

}  // namespace tensorpar::gloo
