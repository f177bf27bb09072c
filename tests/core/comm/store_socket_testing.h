#pragma once
// A raw TCP client for feeding a TCPStoreServer bytes no TCPStore would send.
#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "core/comm/tcp_store_protocol.h"

namespace tensorpar::store_testing {

class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};  // no test waits longer for the server
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  void send(const std::vector<std::uint8_t>& bytes) {
    (void)!::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  void hello() {
    store_protocol::Request q;
    q.op = store_protocol::Op::Hello;
    q.number = store_protocol::kVersion;
    send(store_protocol::encode_request(q));
    std::uint8_t answer[64];
    (void)!::recv(fd_, answer, sizeof answer, 0);
  }
  // True when the server closed the connection (read returns 0 or a reset) within 5 s.
  bool closed_by_server() {
    std::uint8_t buf[256];
    while (true) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// A frame with the given body: u32 little-endian length, then the body.
inline std::vector<std::uint8_t> frame(const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> out(4 + body.size());
  const auto n = static_cast<std::uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) out[std::size_t(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  std::copy(body.begin(), body.end(), out.begin() + 4);
  return out;
}

}  // namespace tensorpar::store_testing
