#pragma once
// PrefixStore: a namespace over another store. Every key is stored as "<prefix>/<key>", so
// groups sharing one store cannot collide:
//
//   auto base = std::make_shared<HashStore>();
//   PrefixStore tp("tp", base);
//   tp.set("addr/0", bytes);        // base now holds "tp/addr/0"
//   tp.num_keys();                  // the base store's count (as c10d's PrefixStore answers)
//
// Timeouts: the PrefixStore's own timeout (initially the base store's) bounds get() and wait().
// Timeout errors name the full keys, prefix included ("tp/addr/0").
#include <memory>

#include "core/comm/store.h"

namespace tensorpar {

class PrefixStore final : public Store {
 public:
  // An empty prefix or a null store is std::invalid_argument naming it.
  PrefixStore(std::string prefix, std::shared_ptr<Store> store);

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

  const std::string& prefix() const { return prefix_; }
  const std::shared_ptr<Store>& underlying() const { return store_; }

 private:
  std::string prefixed(const std::string& key) const { return prefix_ + "/" + key; }
  std::vector<std::string> prefixed(const std::vector<std::string>& keys) const;

  std::string prefix_;
  std::shared_ptr<Store> store_;
};

}  // namespace tensorpar
