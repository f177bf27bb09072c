#pragma once
// HashStore: a Store held in this process's memory, for rank threads of one process and for tests.
// Thread-safe; waits block on a condition variable (no polling).
#include <condition_variable>
#include <map>
#include <mutex>

#include "core/comm/store.h"

namespace tensorpar {

class HashStore final : public Store {
 public:
  explicit HashStore(std::chrono::milliseconds timeout = kDefaultTimeout) : Store(timeout) {}

  void set(const std::string& key, const StoreBytes& value) override;
  StoreBytes get(const std::string& key) override;
  std::int64_t add(const std::string& key, std::int64_t delta) override;
  StoreBytes compare_set(const std::string& key, const StoreBytes& expected,
                         const StoreBytes& desired) override;
  bool check(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  using Store::set;
  using Store::wait;
  bool delete_key(const std::string& key) override;
  std::int64_t num_keys() override;

 private:
  // Waits on lock until every key is present; throws StoreTimeoutError naming the keys.
  void wait_locked(std::unique_lock<std::mutex>& lock, const std::vector<std::string>& keys,
                   std::chrono::milliseconds timeout);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, StoreBytes> data_;
};

}  // namespace tensorpar
