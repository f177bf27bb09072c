#include "core/comm/tcp_store_connection.h"

#include <array>
#include <thread>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "core/comm/tcp_store.h"
#include "core/base/error.h"

namespace tensorpar {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace store_protocol;
using Clock = std::chrono::steady_clock;

struct StoreConnection::Socket {
  asio::io_context io;
  tcp::socket socket{io};

  // Runs the io_context until `done` or the deadline; on the deadline closes the socket, lets
  // the aborted handlers finish, and returns false.
  bool run_until(const bool& done, Clock::time_point deadline) {
    io.restart();
    while (!done && !io.stopped()) {
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) break;
      io.run_one_for(left);
    }
    if (done) return true;
    boost::system::error_code ignored;
    socket.close(ignored);
    io.restart();
    io.run();
    return false;
  }
};

StoreConnection::StoreConnection(const std::string& host, std::uint16_t port,
                                 std::chrono::milliseconds timeout, const std::string& token)
    : where_(cat(host, ":", port)), socket_(std::make_unique<Socket>()) {
  const auto deadline = Clock::now() + timeout;
  auto backoff = std::chrono::milliseconds(10);
  std::string last_error = "no attempt";
  while (true) {
    boost::system::error_code ec;
    tcp::resolver resolver(socket_->io);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (!ec) {
      bool done = false;
      asio::async_connect(socket_->socket, endpoints,
                          [&](boost::system::error_code e, const tcp::endpoint&) {
                            ec = e;
                            done = true;
                          });
      if (!socket_->run_until(done, deadline)) ec = asio::error::timed_out;
    }
    if (!ec) break;
    last_error = ec.message();
    boost::system::error_code ignored;
    socket_->socket.close(ignored);
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      throw StoreConnectionError(cat("TCPStore: could not connect to ", where_, " within ",
                                     timeout.count(), " ms: ", last_error));
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, left));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  boost::system::error_code ignored;
  socket_->socket.set_option(tcp::no_delay(true), ignored);

  Request hello;
  hello.op = Op::Hello;
  hello.number = kVersion;
  hello.value.assign(token.begin(), token.end());
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const Response a = round_trip(hello, std::max(left, std::chrono::milliseconds(1000)));
  if (a.status != Status::Ok) {
    broken_ = "the server refused the connection";
    throw StoreConnectionError(cat("TCPStore: the server at ", where_, " refused the connection: ",
                                   std::string(a.payload.begin(), a.payload.end())));
  }
}

StoreConnection::~StoreConnection() = default;

Response StoreConnection::round_trip(const Request& request, std::chrono::milliseconds deadline) {
  const StoreBytes frame = encode_request(request);  // bad arguments throw before any I/O
  std::lock_guard lock(mutex_);
  const char* what = op_name(request.op);
  if (!broken_.empty()) {
    throw StoreConnectionError(
        cat("TCPStore::", what, ": the connection to ", where_, " is unusable: ", broken_));
  }
  std::array<std::uint8_t, kHeaderBytes> header{};
  StoreBytes body;
  boost::system::error_code ec;
  std::string failure;
  bool done = false;
  asio::async_write(socket_->socket, asio::buffer(frame), [&](boost::system::error_code e,
                                                             std::size_t) {
    if (e) {
      ec = e;
      done = true;
      return;
    }
    asio::async_read(socket_->socket, asio::buffer(header), [&](boost::system::error_code e2,
                                                                std::size_t) {
      if (e2) {
        ec = e2;
        done = true;
        return;
      }
      try {
        body.resize(decode_header(header));
      } catch (const ProtocolError& p) {
        failure = p.what();
        done = true;
        return;
      }
      asio::async_read(socket_->socket, asio::buffer(body),
                       [&](boost::system::error_code e3, std::size_t) {
                         ec = e3;
                         done = true;
                       });
    });
  });
  if (!socket_->run_until(done, Clock::now() + deadline)) {
    failure = cat("no answer within ", deadline.count(), " ms");
  } else if (ec) {
    failure = ec == asio::error::eof ? std::string("the server closed the connection")
                                     : ec.message();
  }
  Response answer;
  if (failure.empty()) {
    try {
      answer = decode_response(body);
    } catch (const ProtocolError& p) {
      failure = cat("malformed answer: ", p.what());
    }
  }
  if (!failure.empty()) {
    broken_ = failure;
    boost::system::error_code ignored;
    socket_->socket.close(ignored);
    throw StoreConnectionError(cat("TCPStore::", what, ": lost the server at ", where_, ": ",
                                   failure));
  }
  return answer;
}

}  // namespace tensorpar
