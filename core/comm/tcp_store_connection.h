#pragma once
// One client connection to a TCPStoreServer: connect with retries, then request/response round
// trips, each under a deadline. Internal to TCPStore (tcp_store.h); kept apart so that Boost.Asio
// stays out of every other header.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "core/comm/tcp_store_protocol.h"

namespace tensorpar {

class StoreConnection {
 public:
  // Connects to host:port, retrying (10 ms, doubling up to 1 s apart) until `timeout` has
  // passed, then says hello with `token`. Failure: StoreConnectionError
  // "TCPStore: could not connect to 10.0.0.1:29500 within 3000 ms: Connection refused".
  StoreConnection(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                  const std::string& token);
  ~StoreConnection();

  // Sends `request` and returns the answer, or throws StoreConnectionError when the server is
  // gone, malformed, or silent for `deadline`. After a failure every call throws.
  store_protocol::Response round_trip(const store_protocol::Request& request,
                                      std::chrono::milliseconds deadline);

 private:
  struct Socket;
  std::string where_;  // "host:port" for messages
  std::mutex mutex_;
  std::unique_ptr<Socket> socket_;
  std::string broken_;  // why the connection is unusable; empty while it works
};

}  // namespace tensorpar
