#include "core/comm/prefix_store.h"

#include "core/base/error.h"

namespace tensorpar {

PrefixStore::PrefixStore(std::string prefix, std::shared_ptr<Store> store)
    : Store(store ? store->timeout() : kDefaultTimeout),
      prefix_(std::move(prefix)),
      store_(std::move(store)) {
  check_arg(!prefix_.empty(), "PrefixStore: prefix must not be empty");
  check_arg(store_ != nullptr, "PrefixStore: store for prefix \"", prefix_, "\" must not be null");
}

std::vector<std::string> PrefixStore::prefixed(const std::vector<std::string>& keys) const {
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const auto& k : keys) out.push_back(prefixed(k));
  return out;
}

void PrefixStore::set(const std::string& key, const StoreBytes& value) {
  store_->set(prefixed(key), value);
}

StoreBytes PrefixStore::get(const std::string& key) {
  // The base store's get() uses the base timeout; wait first so this store's timeout rules.
  store_->wait({prefixed(key)}, timeout());
  return store_->get(prefixed(key));
}

std::int64_t PrefixStore::add(const std::string& key, std::int64_t delta) {
  return store_->add(prefixed(key), delta);
}

StoreBytes PrefixStore::compare_set(const std::string& key, const StoreBytes& expected,
                                    const StoreBytes& desired) {
  return store_->compare_set(prefixed(key), expected, desired);
}

bool PrefixStore::check(const std::vector<std::string>& keys) {
  return store_->check(prefixed(keys));
}

void PrefixStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  store_->wait(prefixed(keys), timeout);
}

bool PrefixStore::delete_key(const std::string& key) { return store_->delete_key(prefixed(key)); }

std::int64_t PrefixStore::num_keys() { return store_->num_keys(); }

}  // namespace tensorpar
