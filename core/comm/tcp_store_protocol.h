#pragma once
// The TCPStore wire protocol: length-prefixed binary frames, little-endian.
//
//   frame    = u32 body_length, body                  (body_length <= kMaxFrameBytes)
//   request  = u8 op, fields of the op:
//     hello        u32 version, bytes token           (the first request of every connection)
//     set          str key, bytes value
//     get          str key, i64 timeout_ms            (answered once the key exists)
//     add          str key, i64 delta
//     compare_set  str key, bytes expected, bytes desired
//     check        strs keys
//     wait         strs keys, i64 timeout_ms          (answered once every key exists)
//     delete_key   str key
//     num_keys     (nothing)
//   response = u8 status (0 ok, 1 timeout, 2 error), i64 number, bytes payload
//              (payload: the value, or the error text; number: add's result, check's 0/1, ...)
//   str/bytes = u32 length, that many bytes;  strs = u32 count, count strs
//
// Example: set("a", {0x2a}) is the frame 0b 00 00 00 | 02 | 01 00 00 00 'a' | 01 00 00 00 2a.
//
// Bounds (a frame breaking one is malformed and its sender is dropped): a key holds at most
// kMaxKeyBytes, a value or token kMaxValueBytes / kMaxTokenBytes, a wait or check at most
// kMaxKeysPerRequest keys, timeouts are >= 0. Decoding is strict: every byte of a body belongs
// to exactly one field, so encode(decode(body)) == body for every body that decodes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/comm/store.h"

namespace tensorpar::store_protocol {

inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kMaxKeyBytes = 4096;
inline constexpr std::size_t kMaxValueBytes = std::size_t{64} << 20;
inline constexpr std::size_t kMaxTokenBytes = 4096;
inline constexpr std::size_t kMaxKeysPerRequest = 1024;
// The largest body any valid request or response can have (compare_set with two full values).
inline constexpr std::size_t kMaxFrameBytes = 1 + 4 + kMaxKeyBytes + 2 * (4 + kMaxValueBytes) + 8;
// A check or wait of kMaxKeysPerRequest full-length keys must fit too.
static_assert(kMaxFrameBytes > 1 + 4 + kMaxKeysPerRequest * (4 + kMaxKeyBytes) + 8);
inline constexpr std::size_t kHeaderBytes = 4;

enum class Op : std::uint8_t {
  Hello = 1,
  Set = 2,
  Get = 3,
  Add = 4,
  CompareSet = 5,
  Check = 6,
  Wait = 7,
  DeleteKey = 8,
  NumKeys = 9,
};
// "hello", "set", "get", ... for messages.
const char* op_name(Op op);

enum class Status : std::uint8_t { Ok = 0, Timeout = 1, Error = 2 };

// One request; which fields matter depends on op (see the table above).
struct Request {
  Op op = Op::NumKeys;
  std::vector<std::string> keys;  // one key, except check/wait (any count) and hello/num_keys (none)
  StoreBytes value;               // set: value; compare_set: expected; hello: token
  StoreBytes desired;             // compare_set only
  std::int64_t number = 0;        // add: delta; get/wait: timeout_ms; hello: version
};

struct Response {
  Status status = Status::Ok;
  std::int64_t number = 0;
  StoreBytes payload;
};

// A frame that breaks the protocol: unknown op, truncated or trailing bytes, a bound exceeded.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The body length announced by a 4-byte header; ProtocolError when above kMaxFrameBytes.
std::uint32_t decode_header(std::span<const std::uint8_t, kHeaderBytes> header);

// Whole frames (header + body).
StoreBytes encode_request(const Request& request);
StoreBytes encode_response(const Response& response);

// Bodies (without the header); ProtocolError on anything malformed.
Request decode_request(std::span<const std::uint8_t> body);
Response decode_response(std::span<const std::uint8_t> body);

}  // namespace tensorpar::store_protocol
