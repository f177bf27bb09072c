#pragma once
// Store: a small byte-oriented key-value service through which the ranks of a job meet
// (rendezvous, Gloo's pair addresses, NCCL's unique id), in the shape of c10d's Store.
//
//   store.set("addr/3", bytes);                 // rank 3 publishes its address
//   store.wait({"addr/0", "addr/1"});           // blocks until both keys exist (or the timeout)
//   auto a = store.get("addr/0");               // waits for the key, then returns its value
//   std::int64_t n = store.add("arrived", 1);   // atomic counter: 1, 2, ... across ranks
//
// Implementations: HashStore (one process, tests), PrefixStore (a namespace over another store),
// TCPStore (a server in one process, clients everywhere). Every blocking call takes the store's
// timeout unless given one and fails with StoreTimeoutError naming the keys it waited for.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tensorpar {

using StoreBytes = std::vector<std::uint8_t>;

// A wait or get that ran past its timeout; the message names the keys and the timeout.
class StoreTimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "<what>: timed out after 30000 ms waiting for keys [\"a\", \"b\"]": every store's timeout text.
std::string store_timeout_message(const char* what, const std::vector<std::string>& keys,
                                  std::chrono::milliseconds timeout);

// The integer a counter key holds (add() keeps it as decimal text); std::invalid_argument
// "<what>: key \"k\" holds a value that is not an integer: \"abc\"" otherwise.
std::int64_t parse_store_counter(const char* what, const std::string& key, const StoreBytes& bytes);

class Store {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{300000};

  virtual ~Store() = default;

  virtual void set(const std::string& key, const StoreBytes& value) = 0;
  // Waits (up to the timeout) for the key to exist, then returns its value.
  virtual StoreBytes get(const std::string& key) = 0;
  // Adds `delta` to the integer stored under key (0 when absent) and returns the new value.
  virtual std::int64_t add(const std::string& key, std::int64_t delta) = 0;
  // Sets key to `desired` when its current value equals `expected` (an empty `expected` means
  // "absent"); returns the value the key holds afterwards.
  virtual StoreBytes compare_set(const std::string& key, const StoreBytes& expected,
                                 const StoreBytes& desired) = 0;
  // True when every key exists, without waiting.
  virtual bool check(const std::vector<std::string>& keys) = 0;
  // Blocks until every key exists or the timeout passes (StoreTimeoutError).
  virtual void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
  void wait(const std::vector<std::string>& keys) { wait(keys, timeout()); }
  // Whether the key existed.
  virtual bool delete_key(const std::string& key) = 0;
  virtual std::int64_t num_keys() = 0;

  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds timeout);

  // Convenience for text values.
  void set(const std::string& key, const std::string& value) {
    set(key, StoreBytes(value.begin(), value.end()));
  }
  std::string get_string(const std::string& key) {
    StoreBytes v = get(key);
    return std::string(v.begin(), v.end());
  }

 protected:
  explicit Store(std::chrono::milliseconds timeout = kDefaultTimeout) : timeout_(timeout) {}

 private:
  std::chrono::milliseconds timeout_;
};

}  // namespace tensorpar
