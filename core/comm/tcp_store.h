#pragma once
// TCPStore: a Store whose keys live in a TCPStoreServer, reached over TCP (c10d's TCPStore).
//
//   // rank 0, or the launcher, hosts the server; port 0 picks a free one:
//   TCPStore master("127.0.0.1", {.port = 0, .is_server = true});
//   // every other process connects (retrying until the timeout while the server starts):
//   TCPStore store("127.0.0.1", {.port = master.port(), .timeout = 30s});
//   store.add("arrived", 1);
//
// The constructor retries connecting until `timeout`, then throws StoreConnectionError naming
// host:port and the last error. Every request is bounded by the timeout too: a get() or wait()
// past it throws StoreTimeoutError naming the keys; a server that goes away or stops answering
// throws StoreConnectionError naming the request, and the connection stays unusable afterwards.
// Thread-safe: concurrent requests on one TCPStore are sent one after another.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/comm/store.h"
#include "core/comm/tcp_store_server.h"

namespace tensorpar {

class StoreConnection;

// The store's server could not be reached, or the connection broke.
class StoreConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TCPStoreOptions {
  std::uint16_t port = 0;        // the server's port; with is_server, 0 picks a free one
  bool is_server = false;        // host a TCPStoreServer in this object (listening on host)
  std::chrono::milliseconds timeout = Store::kDefaultTimeout;  // connecting and every request
  std::optional<std::string> token;  // nullopt: $TENSORPAR_STORE_TOKEN (store_token_from_env)
};

class TCPStore final : public Store {
 public:
  TCPStore(std::string host, TCPStoreOptions options = {});
  ~TCPStore() override;

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

  const std::string& host() const { return host_; }
  // The server's port (the one chosen when hosting with port 0).
  std::uint16_t port() const { return port_; }
  // The server this object hosts, or nullptr.
  TCPStoreServer* server() const { return server_.get(); }

 private:
  std::string host_;
  std::uint16_t port_ = 0;
  std::unique_ptr<TCPStoreServer> server_;
  std::unique_ptr<StoreConnection> connection_;
};

}  // namespace tensorpar
