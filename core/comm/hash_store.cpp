#include "core/comm/hash_store.h"

#include <limits>

#include "core/base/error.h"

namespace tensorpar {

void HashStore::set(const std::string& key, const StoreBytes& value) {
  {
    std::lock_guard lock(mutex_);
    data_[key] = value;
  }
  changed_.notify_all();
}

StoreBytes HashStore::get(const std::string& key) {
  std::unique_lock lock(mutex_);
  wait_locked(lock, {key}, timeout());
  return data_.at(key);
}

std::int64_t HashStore::add(const std::string& key, std::int64_t delta) {
  std::int64_t value = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = data_.find(key);
    if (it != data_.end()) value = parse_store_counter("Store::add", key, it->second);
    value += delta;
    const std::string text = std::to_string(value);
    data_[key] = StoreBytes(text.begin(), text.end());
  }
  changed_.notify_all();
  return value;
}

StoreBytes HashStore::compare_set(const std::string& key, const StoreBytes& expected,
                                  const StoreBytes& desired) {
  StoreBytes result;
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    auto it = data_.find(key);
    if (it == data_.end()) {
      if (expected.empty()) {
        data_[key] = desired;
        changed = true;
        result = desired;
      } else {
        result = expected;  // c10d's answer for a missing key: the expected value
      }
    } else if (it->second == expected) {
      it->second = desired;
      changed = true;
      result = desired;
    } else {
      result = it->second;
    }
  }
  if (changed) changed_.notify_all();
  return result;
}

bool HashStore::check(const std::vector<std::string>& keys) {
  std::lock_guard lock(mutex_);
  for (const auto& k : keys) {
    if (!data_.count(k)) return false;
  }
  return true;
}

void HashStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  wait_locked(lock, keys, timeout);
}

bool HashStore::delete_key(const std::string& key) {
  std::lock_guard lock(mutex_);
  return data_.erase(key) > 0;
}

std::int64_t HashStore::num_keys() {
  std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(data_.size());
}

void HashStore::wait_locked(std::unique_lock<std::mutex>& lock,
                            const std::vector<std::string>& keys,
                            std::chrono::milliseconds timeout) {
  check_arg(timeout.count() >= 0, "Store::wait: timeout must be >= 0 ms, got ", timeout.count(),
            " ms");
  auto present = [&] {
    for (const auto& k : keys) {
      if (!data_.count(k)) return false;
    }
    return true;
  };
  // A deadline past the clock's range waits without one.
  using Clock = std::chrono::steady_clock;
  const auto now = Clock::now();
  const bool bounded = timeout < std::chrono::duration_cast<std::chrono::milliseconds>(
                                     Clock::time_point::max() - now);
  if (!bounded) {
    changed_.wait(lock, present);
    return;
  }
  if (!changed_.wait_until(lock, now + timeout, present)) {
    throw StoreTimeoutError(store_timeout_message("HashStore::wait", keys, timeout));
  }
}

}  // namespace tensorpar
