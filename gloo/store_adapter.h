#pragma once
// StoreAdapter: Gloo's rendezvous Store over a tensorpar Store, so that Gloo's full-mesh
// connection goes through the job's own store (HashStore in one process, TCPStore across them).
//
// Every key is prefixed, which gives each Gloo context its own namespace on one store:
//   StoreAdapter a(store, "gloo/split1/color0/");
//   a.set("2", addr);        // store key "gloo/split1/color0/2"
// Bytes pass through unchanged (char <-> uint8_t). A wait without a timeout uses the store's.
#include <gloo/rendezvous/store.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/comm/store.h"

namespace tensorpar::gloo {

class StoreAdapter final : public ::gloo::rendezvous::Store {
 public:
  StoreAdapter(std::shared_ptr<tensorpar::Store> store, std::string prefix);

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

  const std::string& prefix() const { return prefix_; }

 private:
  std::vector<std::string> prefixed(const std::vector<std::string>& keys) const;

  std::shared_ptr<tensorpar::Store> store_;
  std::string prefix_;
};

}  // namespace tensorpar::gloo
