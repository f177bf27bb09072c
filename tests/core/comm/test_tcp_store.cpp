// TCPStore and its server, over loopback with port 0 (in the manner of c10d's TCPStoreTest).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "core/comm/prefix_store.h"
#include "core/comm/tcp_store.h"
#include "store_socket_testing.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using namespace std::chrono_literals;
using store_testing::frame;
using store_testing::RawClient;
using testing::expect_error;

TCPStore client_of(const TCPStoreServer& server, std::chrono::milliseconds timeout = 5s) {
  return TCPStore("127.0.0.1", {.port = server.port(), .timeout = timeout});
}

// The server counts drops asynchronously; give it a moment.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

TEST(TCPStore, PortZeroListensOnAFreePortAndReportsIt) {
  TCPStore master("127.0.0.1", {.port = 0, .is_server = true, .timeout = 5s});
  EXPECT_NE(master.port(), 0);
  ASSERT_NE(master.server(), nullptr);
  EXPECT_EQ(master.server()->port(), master.port());
  TCPStore client("127.0.0.1", {.port = master.port(), .timeout = 5s});
  client.set("k", std::string("v"));
  EXPECT_EQ(master.get_string("k"), "v");
}

TEST(TCPStore, EveryOperationMatchesTheStoreContract) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore s = client_of(server);
  s.set("a", std::string("x"));
  EXPECT_EQ(s.get_string("a"), "x");
  EXPECT_EQ(s.add("n", 5), 5);
  EXPECT_EQ(s.add("n", -2), 3);
  EXPECT_TRUE(s.check({"a", "n"}));
  EXPECT_FALSE(s.check({"a", "missing"}));
  EXPECT_EQ(s.num_keys(), 2);
  const StoreBytes one{'1'}, two{'2'};
  EXPECT_EQ(s.compare_set("c", {}, one), one);
  EXPECT_EQ(s.compare_set("c", two, two), one);
  EXPECT_EQ(s.compare_set("c", one, two), two);
  EXPECT_EQ(s.compare_set("absent", one, two), one);  // c10d: a missing key answers `expected`
  EXPECT_TRUE(s.delete_key("a"));
  EXPECT_FALSE(s.delete_key("a"));
  EXPECT_EQ(s.num_keys(), 2);
  const StoreBytes empty;
  s.set("empty", empty);
  EXPECT_EQ(s.get("empty"), empty);
}

TEST(TCPStore, LargeValuesRoundTrip) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore s = client_of(server);
  StoreBytes big(3 << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7);
  s.set("big", big);
  EXPECT_EQ(s.get("big"), big);
}

TEST(TCPStore, SixteenClientThreadsHammeringAddCountExactly) {
  TCPStoreServer server({.host = "127.0.0.1"});
  constexpr int kThreads = 16, kIterations = 250;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::int64_t>> seen(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      TCPStore s = client_of(server);
      for (int i = 0; i < kIterations; ++i) seen[t].push_back(s.add("counter", 1));
      s.set("done/" + std::to_string(t), std::string("1"));
    });
  }
  for (auto& th : threads) th.join();
  TCPStore s = client_of(server);
  EXPECT_EQ(s.get_string("counter"), std::to_string(kThreads * kIterations));
  std::set<std::int64_t> all;
  for (const auto& v : seen) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kIterations));  // every add unique
  EXPECT_EQ(s.num_keys(), kThreads + 1);
}

TEST(TCPStore, OneClientSharedByThreadsSerialisesRequests) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore s = client_of(server);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) s.add("counter", 1);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(s.add("counter", 0), 800);
}

TEST(TCPStore, WaitIsHeldOnTheServerUntilTheLastKeyIsSet) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore waiter = client_of(server);
  TCPStore setter = client_of(server);
  std::atomic<bool> returned{false};
  std::thread t([&] {
    waiter.wait({"a", "b"});
    returned = true;
  });
  setter.set("a", std::string("1"));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load());
  setter.add("b", 1);
  t.join();
  EXPECT_TRUE(returned.load());
}

TEST(TCPStore, GetWaitsForTheKey) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore getter = client_of(server);
  TCPStore setter = client_of(server);
  std::string got;
  std::thread t([&] { got = getter.get_string("late"); });
  std::this_thread::sleep_for(20ms);
  setter.set("late", std::string("value"));
  t.join();
  EXPECT_EQ(got, "value");
}

TEST(TCPStore, WaitTimeoutNamesTheKeysAndLeavesTheConnectionUsable) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore s = client_of(server);
  s.set("present", std::string("1"));
  expect_error<StoreTimeoutError>([&] { s.wait({"present", "x", "y"}, 100ms); },
                                  "TCPStore::wait: timed out after 100 ms waiting for keys "
                                  "[\"present\", \"x\", \"y\"]");
  s.set_timeout(50ms);
  expect_error<StoreTimeoutError>([&] { s.get("nope"); }, "[\"nope\"]");
  s.set_timeout(5s);
  EXPECT_EQ(s.add("after", 1), 1);
  EXPECT_NO_THROW(s.wait({"present"}, 0ms));
  expect_error<StoreTimeoutError>([&] { s.wait({"x"}, 0ms); }, "[\"x\"]");
}

TEST(TCPStore, PrefixStoresOverOneServerDoNotCollide) {
  TCPStoreServer server({.host = "127.0.0.1"});
  auto base = std::make_shared<TCPStore>("127.0.0.1", TCPStoreOptions{.port = server.port(),
                                                                      .timeout = 5s});
  PrefixStore a("a", base), b("b", base);
  a.set("k", std::string("1"));
  b.set("k", std::string("2"));
  EXPECT_EQ(a.get_string("k"), "1");
  EXPECT_EQ(b.get_string("k"), "2");
  a.set_timeout(50ms);
  expect_error<StoreTimeoutError>([&] { a.get("other"); }, "\"a/other\"");
}

TEST(TCPStore, ASecondServerOnTheSamePortFailsNamingIt) {
  TCPStoreServer first({.host = "127.0.0.1"});
  const std::string where = "127.0.0.1:" + std::to_string(first.port());
  expect_error<std::runtime_error>(
      [&] { TCPStoreServer second({.host = "127.0.0.1", .port = first.port()}); },
      "TCPStore server: cannot listen on " + where + ": Address already in use");
}

TEST(TCPStore, ConnectRetriesUntilTheServerStarts) {
  std::uint16_t port = 0;
  {
    TCPStoreServer probe({.host = "127.0.0.1"});
    port = probe.port();
  }
  std::unique_ptr<TCPStoreServer> server;
  std::thread starter([&] {
    std::this_thread::sleep_for(150ms);
    server = std::make_unique<TCPStoreServer>(TCPStoreServerOptions{.host = "127.0.0.1",
                                                                     .port = port});
  });
  TCPStore client("127.0.0.1", {.port = port, .timeout = 5s});
  starter.join();
  EXPECT_EQ(client.add("x", 1), 1);
}

TEST(TCPStore, ConnectTimeoutNamesHostAndPort) {
  std::uint16_t port = 0;
  {
    TCPStoreServer probe({.host = "127.0.0.1"});
    port = probe.port();
  }
  expect_error<StoreConnectionError>(
      [&] { TCPStore("127.0.0.1", {.port = port, .timeout = 200ms}); },
      "TCPStore: could not connect to 127.0.0.1:" + std::to_string(port) + " within 200 ms");
}

TEST(TCPStore, ServerGoneFailsPendingAndLaterRequests) {
  auto server = std::make_unique<TCPStoreServer>(TCPStoreServerOptions{.host = "127.0.0.1"});
  TCPStore s = client_of(*server, 10s);
  std::string failure;
  std::thread t([&] {
    try {
      s.wait({"never"});
    } catch (const StoreConnectionError& e) {
      failure = e.what();
    }
  });
  std::this_thread::sleep_for(50ms);
  server.reset();
  t.join();
  EXPECT_THAT(failure, ::testing::HasSubstr("TCPStore::wait: lost the server at 127.0.0.1:"));
  expect_error<StoreConnectionError>([&] { s.add("x", 1); }, "unusable");
}

TEST(TCPStore, TokenMustMatch) {
  TCPStoreServer server({.host = "127.0.0.1", .token = "s3cret"});
  expect_error<StoreConnectionError>(
      [&] { TCPStore("127.0.0.1", {.port = server.port(), .timeout = 2s, .token = "wrong"}); },
      "refused the connection: TCPStore: wrong or missing token (set TENSORPAR_STORE_TOKEN");
  TCPStore good("127.0.0.1", {.port = server.port(), .timeout = 2s, .token = "s3cret"});
  EXPECT_EQ(good.add("x", 1), 1);
  EXPECT_TRUE(eventually([&] { return server.dropped_clients() == 1; }));
}

TEST(TCPStore, BadArgumentsAreRefusedAndTheConnectionStaysUsable) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore s = client_of(server);
  s.set("text", std::string("abc"));
  expect_error<std::invalid_argument>([&] { s.add("text", 1); },
                                      "key \"text\" holds a value that is not an integer");
  expect_error<std::invalid_argument>([&] { s.set(std::string(5000, 'k'), std::string("v")); },
                                      "key of 5000 bytes exceeds the bound of 4096 bytes");
  expect_error<std::invalid_argument>([&] { s.wait({"x"}, -1ms); }, "got -1 ms");
  expect_error<std::invalid_argument>([] { TCPStore("127.0.0.1", {.port = 0}); },
                                      "needs the server's port");
  EXPECT_EQ(s.add("n", 1), 1);
}

// Each malformed frame drops its sender; a well-behaved client is served throughout.
TEST(TCPStore, MalformedFramesDropTheSenderOnly) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore good = client_of(server);
  const std::vector<std::vector<std::uint8_t>> bad = {
      frame({0x63}),                                   // unknown request type
      {0xff, 0xff, 0xff, 0xff},                        // announces a 4 GiB frame
      {0, 0, 0, 0},                                    // empty frame
      frame({0x09, 0x00}),                             // num_keys with a trailing byte
      frame({0x02, 0x05, 0x00, 0x00, 0x00, 'a'}),      // set whose key is cut short
      frame({0x03, 0x01, 0x00, 0x00, 0x00, 'k', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
             0xff}),                                   // get with a negative timeout
      frame({0x06, 0x01, 0x10, 0x00, 0x00}),           // check of 4097 keys
  };
  std::int64_t expected = 0;
  for (const auto& bytes : bad) {
    RawClient raw(server.port());
    ASSERT_TRUE(raw.connected());
    raw.hello();
    raw.send(bytes);
    EXPECT_TRUE(raw.closed_by_server());
    ++expected;
    EXPECT_TRUE(eventually([&] { return server.dropped_clients() == expected; }));
    EXPECT_EQ(good.add("still_served", 1), expected);
  }
  // A request before hello is refused too.
  RawClient rude(server.port());
  rude.send(frame({0x09}));
  EXPECT_TRUE(rude.closed_by_server());
  EXPECT_TRUE(eventually([&] { return server.dropped_clients() == expected + 1; }));
}

// A client killed mid-request (here: half a frame, or a held wait, then the socket closes) is
// dropped and its wait forgotten; the server serves the rest.
TEST(TCPStore, AClientVanishingMidRequestIsDropped) {
  TCPStoreServer server({.host = "127.0.0.1"});
  TCPStore good = client_of(server);
  {
    RawClient raw(server.port());
    raw.hello();
    raw.send({20, 0, 0, 0, 0x02, 0x01});  // 20 bytes announced, 2 sent
  }
  EXPECT_TRUE(eventually([&] { return server.dropped_clients() == 1; }));
  {
    RawClient raw(server.port());
    raw.hello();
    store_protocol::Request q;
    q.op = store_protocol::Op::Wait;
    q.keys = {"never"};
    q.number = 60000;
    raw.send(store_protocol::encode_request(q));
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(eventually([&] { return server.dropped_clients() == 2; }));
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 1; }));
  good.set("never", std::string("now"));  // wakes nobody: the waiter was forgotten
  EXPECT_EQ(good.get_string("never"), "now");
}

}  // namespace
}  // namespace tensorpar
