#pragma once
// TCPStoreServer: the process that holds a job's keys. Clients (TCPStore) connect over TCP and
// speak the protocol of tcp_store_protocol.h. Hosted by the launcher (`tensorpar run` on node 0),
// or by rank 0 when a program is started by torchrun, srun or mpirun.
//
//   TCPStoreServer server({.host = "127.0.0.1", .port = 0});   // port 0: any free port
//   TCPStore client("127.0.0.1", {.port = server.port()});
//
// One thread runs every connection (Boost.Asio). A get() or wait() on missing keys is held on
// the server and answered when a set(), add() or compare_set() creates the last of them, or with
// a timeout answer naming the keys when its deadline passes: clients never poll.
//
// A client that sends a malformed or oversized frame, a request before its hello, a wrong token,
// or a second request while one is held, is disconnected; so is one that goes away mid-request.
// The others are served on. dropped_clients() counts those disconnections for tests and logs.
//
// Token: when the server has one (the option, else $TENSORPAR_STORE_TOKEN when set and not
// empty), every client's hello must carry the same bytes.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace tensorpar {

// The environment variable holding the shared secret every store client must present.
inline constexpr const char* kStoreTokenEnv = "TENSORPAR_STORE_TOKEN";
// $TENSORPAR_STORE_TOKEN when set and not empty.
std::optional<std::string> store_token_from_env();

struct TCPStoreServerOptions {
  std::string host = "0.0.0.0";       // the address to listen on (a name or a numeric address)
  std::uint16_t port = 0;             // 0: any free port; port() reports the one chosen
  std::optional<std::string> token;   // nullopt: store_token_from_env()
};

class TCPStoreServer {
 public:
  // Listens at once. A port in use or an unknown host is std::runtime_error
  // "TCPStore server: cannot listen on 127.0.0.1:29500: Address already in use".
  explicit TCPStoreServer(TCPStoreServerOptions options = {});
  // Stops serving: closes the listener and every connection (their clients see the server gone).
  ~TCPStoreServer();
  TCPStoreServer(const TCPStoreServer&) = delete;
  TCPStoreServer& operator=(const TCPStoreServer&) = delete;

  std::uint16_t port() const;
  const std::string& host() const;
  // Clients disconnected for a protocol violation, a bad token, or vanishing mid-request.
  std::int64_t dropped_clients() const;
  // Connections open now.
  std::int64_t open_connections() const;

  struct Impl;  // the connections and keys, in tcp_store_server.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tensorpar
