#include "core/comm/tcp_store_server.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/comm/tcp_store_protocol.h"
#include "core/base/error.h"

namespace tensorpar {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace store_protocol;

std::optional<std::string> store_token_from_env() {
  const char* v = std::getenv(kStoreTokenEnv);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

namespace {

class Session;

// A get() or wait() held until its keys exist or its deadline passes.
struct Waiter {
  explicit Waiter(asio::io_context& io) : timer(io) {}
  std::weak_ptr<Session> session;
  Op op = Op::Wait;
  std::vector<std::string> keys;
  std::string registered_key;  // the missing key it is filed under
  std::int64_t timeout_ms = 0;
  asio::steady_timer timer;
  bool done = false;
};

// Timers cannot hold more than the clock's range; a month is "forever" for a store wait.
constexpr std::int64_t kMaxTimerMs = std::int64_t{30} * 24 * 3600 * 1000;

bool tokens_equal(const StoreBytes& given, const std::string& expected) {
  if (given.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

Response ok(std::int64_t number = 0, StoreBytes payload = {}) {
  return {Status::Ok, number, std::move(payload)};
}
Response error(const std::string& text) {
  return {Status::Error, 0, StoreBytes(text.begin(), text.end())};
}

}  // namespace

struct TCPStoreServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::string host;
  std::uint16_t port = 0;
  std::optional<std::string> token;
  std::unordered_map<std::string, StoreBytes> data;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Waiter>>> waiting;
  std::set<std::shared_ptr<Session>> sessions;
  std::atomic<std::int64_t> dropped{0};
  std::atomic<std::int64_t> open{0};
  std::thread thread;

  void accept();
  Response handle(Session& session, const Request& q, bool& hold);
  void hold(const std::shared_ptr<Session>& session, const Request& q);
  void file(const std::shared_ptr<Waiter>& w);
  void changed(const std::string& key);
  void finish(const std::shared_ptr<Waiter>& w, Response a);
  void unfile(const std::shared_ptr<Waiter>& w);
  bool present(const std::vector<std::string>& keys) const {
    for (const auto& k : keys) {
      if (!data.count(k)) return false;
    }
    return true;
  }
};

namespace {

// One client connection: read a frame, answer it (now or when its wait is over), repeat.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, TCPStoreServer::Impl& server)
      : socket_(std::move(socket)), server_(server) {}

  void start() { read_header(); }

  // Closes the connection; counts it as dropped unless the client simply left between requests.
  void close(bool dropped) {
    if (closed_) return;
    closed_ = true;
    if (dropped) ++server_.dropped;
    --server_.open;
    if (auto w = pending_.lock()) {
      w->done = true;
      w->timer.cancel();
      server_.unfile(w);
    }
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_.sessions.erase(shared_from_this());
  }

  void answer(const Response& a, bool then_close = false) {
    if (closed_) return;
    pending_.reset();
    writes_.push_back(encode_response(a));
    if (writes_.size() == 1) write_next(then_close);
  }

  void set_pending(const std::shared_ptr<Waiter>& w) { pending_ = w; }
  bool authenticated = false;

 private:
  void read_header() {
    asio::async_read(socket_, asio::buffer(header_),
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       self->on_header(ec);
                     });
  }

  void on_header(boost::system::error_code ec) {
    if (closed_) return;
    // EOF between requests is a client leaving; EOF while a wait is held is one vanishing.
    if (ec) return close(!pending_.expired() || ec != asio::error::eof);
    if (!pending_.expired()) return close(true);  // a second request while one is held
    std::uint32_t n = 0;
    try {
      n = decode_header(header_);
    } catch (const ProtocolError&) {
      return close(true);
    }
    body_.resize(n);
    asio::async_read(socket_, asio::buffer(body_),
                     [self = shared_from_this()](boost::system::error_code ec2, std::size_t) {
                       self->on_body(ec2);
                     });
  }

  void on_body(boost::system::error_code ec) {
    if (closed_) return;
    if (ec) return close(true);  // gone mid-request
    Request q;
    try {
      q = decode_request(body_);
    } catch (const ProtocolError&) {
      return close(true);
    }
    body_.clear();
    body_.shrink_to_fit();
    read_header();  // notices a client leaving while its wait is held
    bool hold = false;
    Response a = server_.handle(*this, q, hold);
    if (hold) return server_.hold(shared_from_this(), q);
    answer(a, /*then_close=*/!authenticated);  // a failed hello ends the connection
  }

  void write_next(bool then_close) {
    asio::async_write(socket_, asio::buffer(writes_.front()),
                      [self = shared_from_this(), then_close](boost::system::error_code ec,
                                                              std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->close(true);
                        self->writes_.pop_front();
                        if (then_close) return self->close(true);
                        if (!self->writes_.empty()) self->write_next(false);
                      });
  }

  tcp::socket socket_;
  TCPStoreServer::Impl& server_;
  std::array<std::uint8_t, kHeaderBytes> header_{};
  StoreBytes body_;
  std::deque<StoreBytes> writes_;
  std::weak_ptr<Waiter> pending_;
  bool closed_ = false;
};

StoreBytes counter_bytes(std::int64_t v) {
  const std::string text = std::to_string(v);
  return StoreBytes(text.begin(), text.end());
}

}  // namespace

Response TCPStoreServer::Impl::handle(Session& session, const Request& q, bool& hold) {
  if (!session.authenticated) {
    if (q.op != Op::Hello) return error("TCPStore: the first request must be hello");
    if (q.number != kVersion) {
      return error(cat("TCPStore: protocol version ", q.number, " is not the server's ", kVersion));
    }
    if (token && !tokens_equal(q.value, *token)) {
      return error(cat("TCPStore: wrong or missing token (set ", kStoreTokenEnv,
                       " to the launcher's value)"));
    }
    session.authenticated = true;
    return ok();
  }
  const std::string& key = q.keys.empty() ? std::string() : q.keys[0];
  switch (q.op) {
    case Op::Hello:
      return ok();
    case Op::Set:
      data[key] = q.value;
      changed(key);
      return ok();
    case Op::Get:
      if (data.count(key)) return ok(0, data[key]);
      hold = true;
      return ok();
    case Op::Add: {
      std::int64_t v = 0;
      if (auto it = data.find(key); it != data.end()) {
        try {
          v = parse_store_counter("TCPStore::add", key, it->second);
        } catch (const std::exception& e) {
          return error(e.what());
        }
      }
      v += q.number;
      data[key] = counter_bytes(v);
      changed(key);
      return ok(v);
    }
    case Op::CompareSet: {
      auto it = data.find(key);
      if (it == data.end()) {
        if (!q.value.empty()) return ok(0, q.value);  // c10d: a missing key answers `expected`
        data[key] = q.desired;
        changed(key);
        return ok(0, q.desired);
      }
      if (it->second != q.value) return ok(0, it->second);
      it->second = q.desired;
      changed(key);
      return ok(0, q.desired);
    }
    case Op::Check:
      return ok(present(q.keys) ? 1 : 0);
    case Op::Wait:
      if (present(q.keys)) return ok();
      hold = true;
      return ok();
    case Op::DeleteKey:
      return ok(data.erase(key) > 0 ? 1 : 0);
    case Op::NumKeys:
      return ok(static_cast<std::int64_t>(data.size()));
  }
  return error("TCPStore: unknown request");
}

void TCPStoreServer::Impl::hold(const std::shared_ptr<Session>& session, const Request& q) {
  auto w = std::make_shared<Waiter>(io);
  w->session = session;
  w->op = q.op;
  w->keys = q.keys;
  w->timeout_ms = q.number;
  session->set_pending(w);
  file(w);
  w->timer.expires_after(std::chrono::milliseconds(std::min(q.number, kMaxTimerMs)));
  w->timer.async_wait([this, w](boost::system::error_code ec) {
    if (ec || w->done) return;
    unfile(w);
    const std::string text = store_timeout_message(
        w->op == Op::Get ? "TCPStore::get" : "TCPStore::wait", w->keys,
        std::chrono::milliseconds(w->timeout_ms));
    finish(w, {Status::Timeout, 0, StoreBytes(text.begin(), text.end())});
  });
}

void TCPStoreServer::Impl::file(const std::shared_ptr<Waiter>& w) {
  for (const auto& k : w->keys) {
    if (!data.count(k)) {
      w->registered_key = k;
      waiting[k].push_back(w);
      return;
    }
  }
}

void TCPStoreServer::Impl::unfile(const std::shared_ptr<Waiter>& w) {
  auto it = waiting.find(w->registered_key);
  if (it == waiting.end()) return;
  std::erase(it->second, w);
  if (it->second.empty()) waiting.erase(it);
}

void TCPStoreServer::Impl::changed(const std::string& key) {
  auto it = waiting.find(key);
  if (it == waiting.end()) return;
  std::vector<std::shared_ptr<Waiter>> woken = std::move(it->second);
  waiting.erase(it);
  for (const auto& w : woken) {
    if (w->done) continue;
    if (present(w->keys)) {
      finish(w, w->op == Op::Get ? ok(0, data[w->keys[0]]) : ok());
    } else {
      file(w);
    }
  }
}

void TCPStoreServer::Impl::finish(const std::shared_ptr<Waiter>& w, Response a) {
  w->done = true;
  w->timer.cancel();
  if (auto s = w->session.lock()) s->answer(a);
}

TCPStoreServer::TCPStoreServer(TCPStoreServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->host = options.host;
  impl_->token = options.token ? options.token : store_token_from_env();
  if (impl_->token && impl_->token->empty()) impl_->token.reset();
  const std::string where = cat(options.host, ":", options.port);
  try {
    tcp::resolver resolver(impl_->io);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                      tcp::resolver::passive);
    const tcp::endpoint endpoint = *endpoints.begin();
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen();
    impl_->port = impl_->acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(
        cat("TCPStore server: cannot listen on ", where, ": ", e.code().message()));
  }
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

void TCPStoreServer::Impl::accept() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto s = std::make_shared<Session>(std::move(socket), *this);
      sessions.insert(s);
      ++open;
      s->start();
    }
    accept();
  });
}

TCPStoreServer::~TCPStoreServer() {
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    auto sessions = impl->sessions;
    for (const auto& s : sessions) s->close(false);
    impl->io.stop();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t TCPStoreServer::port() const { return impl_->port; }
const std::string& TCPStoreServer::host() const { return impl_->host; }
std::int64_t TCPStoreServer::dropped_clients() const { return impl_->dropped.load(); }
std::int64_t TCPStoreServer::open_connections() const { return impl_->open.load(); }

}  // namespace tensorpar
