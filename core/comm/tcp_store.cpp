#include "core/comm/tcp_store.h"

#include "core/comm/tcp_store_connection.h"
#include "core/base/error.h"

namespace tensorpar {

using namespace store_protocol;

namespace {

Request request(Op op, std::vector<std::string> keys, std::int64_t number = 0) {
  Request q;
  q.op = op;
  q.keys = std::move(keys);
  q.number = number;
  return q;
}

// A waiting request's answer may take the whole timeout; the client allows the server a
// little longer to send its own timeout answer, which names the keys.
std::chrono::milliseconds slack(std::chrono::milliseconds timeout) {
  return timeout + std::max(std::chrono::milliseconds(1000), timeout / 10);
}

std::string text(const StoreBytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

TCPStore::TCPStore(std::string host, TCPStoreOptions options)
    : Store(options.timeout), host_(std::move(host)), port_(options.port) {
  check_arg(!host_.empty(), "TCPStore: host must not be empty");
  const std::string token = options.token.value_or(store_token_from_env().value_or(""));
  if (options.is_server) {
    server_ = std::make_unique<TCPStoreServer>(
        TCPStoreServerOptions{.host = host_, .port = options.port, .token = token});
    port_ = server_->port();
  } else {
    check_arg(options.port != 0, "TCPStore: a client needs the server's port, got 0 for host ",
              host_);
  }
  // A server listening on every address is reached through loopback.
  const std::string connect_host = host_ == "0.0.0.0" ? "127.0.0.1" : host_ == "::" ? "::1" : host_;
  connection_ = std::make_unique<StoreConnection>(connect_host, port_, options.timeout, token);
}

TCPStore::~TCPStore() {
  connection_.reset();  // the client goes before the server it may host
  server_.reset();
}

namespace {

// The server's refusals (add on a non-integer) are bad arguments; its timeouts name the keys.
Response checked(Response a) {
  if (a.status == Status::Error) throw std::invalid_argument(text(a.payload));
  if (a.status == Status::Timeout) throw StoreTimeoutError(text(a.payload));
  return a;
}

}  // namespace

void TCPStore::set(const std::string& key, const StoreBytes& value) {
  Request q = request(Op::Set, {key});
  q.value = value;
  checked(connection_->round_trip(q, timeout()));
}

StoreBytes TCPStore::get(const std::string& key) {
  const Request q = request(Op::Get, {key}, timeout().count());
  return checked(connection_->round_trip(q, slack(timeout()))).payload;
}

std::int64_t TCPStore::add(const std::string& key, std::int64_t delta) {
  return checked(connection_->round_trip(request(Op::Add, {key}, delta), timeout()))
      .number;
}

StoreBytes TCPStore::compare_set(const std::string& key, const StoreBytes& expected,
                                 const StoreBytes& desired) {
  Request q = request(Op::CompareSet, {key});
  q.value = expected;
  q.desired = desired;
  return checked(connection_->round_trip(q, timeout())).payload;
}

bool TCPStore::check(const std::vector<std::string>& keys) {
  return checked(connection_->round_trip(request(Op::Check, keys), timeout()))
             .number != 0;
}

void TCPStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  check_arg(timeout.count() >= 0, "TCPStore::wait: timeout must be >= 0 ms, got ",
            timeout.count(), " ms");
  checked(connection_->round_trip(request(Op::Wait, keys, timeout.count()), slack(timeout)));
}

bool TCPStore::delete_key(const std::string& key) {
  return checked(connection_->round_trip(request(Op::DeleteKey, {key}), timeout())).number != 0;
}

std::int64_t TCPStore::num_keys() {
  return checked(connection_->round_trip(request(Op::NumKeys, {}), timeout()))
      .number;
}

}  // namespace tensorpar
