#include "core/comm/tcp_store_protocol.h"

#include "core/base/error.h"

namespace tensorpar::store_protocol {

namespace {

class Writer {
 public:
  Writer() { out_.resize(kHeaderBytes); }  // the length is filled in by finish()

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void i64(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
  }
  template <class Bytes>
  void bytes(const Bytes& b) {
    u32(static_cast<std::uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  StoreBytes finish() {
    const auto n = static_cast<std::uint32_t>(out_.size() - kHeaderBytes);
    for (int i = 0; i < 4; ++i) out_[i] = static_cast<std::uint8_t>(n >> (8 * i));
    return std::move(out_);
  }

 private:
  StoreBytes out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}

  std::uint8_t u8() { return take(1)[0]; }
  std::uint32_t u32() {
    auto b = take(4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{b[i]} << (8 * i);
    return v;
  }
  std::int64_t i64() {
    auto b = take(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{b[i]} << (8 * i);
    return static_cast<std::int64_t>(v);
  }
  StoreBytes bytes(std::size_t limit, const char* what) {
    const std::uint32_t n = u32();
    if (n > limit) throw ProtocolError(cat(what, " of ", n, " bytes exceeds the bound of ", limit));
    auto b = take(n);
    return StoreBytes(b.begin(), b.end());
  }
  std::string str(std::size_t limit, const char* what) {
    auto b = bytes(limit, what);
    return std::string(b.begin(), b.end());
  }
  void finish() const {
    if (pos_ != in_.size()) {
      throw ProtocolError(cat(in_.size() - pos_, " trailing bytes after the message"));
    }
  }

 private:
  std::span<const std::uint8_t> take(std::size_t n) {
    if (n > in_.size() - pos_) {
      throw ProtocolError(cat("truncated message: needs ", n, " more bytes at offset ", pos_,
                              ", has ", in_.size() - pos_));
    }
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

void check_key(const std::string& key, Op op) {
  check_arg(key.size() <= kMaxKeyBytes, "TCPStore::", op_name(op), ": key of ", key.size(),
            " bytes exceeds the bound of ", kMaxKeyBytes, " bytes");
}
void check_value(const StoreBytes& value, Op op, const char* what) {
  check_arg(value.size() <= kMaxValueBytes, "TCPStore::", op_name(op), ": ", what, " of ",
            value.size(), " bytes exceeds the bound of ", kMaxValueBytes, " bytes");
}
std::size_t expected_keys(Op op) {
  switch (op) {
    case Op::Hello:
    case Op::NumKeys:
      return 0;
    default:
      return 1;
  }
}
bool takes_key_list(Op op) { return op == Op::Check || op == Op::Wait; }

std::int64_t timeout_field(Reader& r) {
  const std::int64_t ms = r.i64();
  if (ms < 0) throw ProtocolError(cat("negative timeout of ", ms, " ms"));
  return ms;
}

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::Hello: return "hello";
    case Op::Set: return "set";
    case Op::Get: return "get";
    case Op::Add: return "add";
    case Op::CompareSet: return "compare_set";
    case Op::Check: return "check";
    case Op::Wait: return "wait";
    case Op::DeleteKey: return "delete_key";
    case Op::NumKeys: return "num_keys";
  }
  return "unknown";
}

std::uint32_t decode_header(std::span<const std::uint8_t, kHeaderBytes> header) {
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= std::uint32_t{header[i]} << (8 * i);
  if (n > kMaxFrameBytes) {
    throw ProtocolError(cat("frame of ", n, " bytes exceeds the bound of ", kMaxFrameBytes));
  }
  if (n == 0) throw ProtocolError("empty frame");
  return n;
}

StoreBytes encode_request(const Request& q) {
  if (takes_key_list(q.op)) {
    check_arg(q.keys.size() <= kMaxKeysPerRequest, "TCPStore::", op_name(q.op), ": ",
              q.keys.size(), " keys exceed the bound of ", kMaxKeysPerRequest);
  } else {
    check_arg(q.keys.size() == expected_keys(q.op), "TCPStore::", op_name(q.op), ": takes ",
              expected_keys(q.op), " keys, got ", q.keys.size());
  }
  for (const auto& k : q.keys) check_key(k, q.op);
  Writer w;
  w.u8(static_cast<std::uint8_t>(q.op));
  switch (q.op) {
    case Op::Hello:
      check_arg(q.value.size() <= kMaxTokenBytes, "TCPStore: token of ", q.value.size(),
                " bytes exceeds the bound of ", kMaxTokenBytes);
      w.u32(static_cast<std::uint32_t>(q.number));
      w.bytes(q.value);
      break;
    case Op::Set:
      check_value(q.value, q.op, "value");
      w.bytes(q.keys[0]);
      w.bytes(q.value);
      break;
    case Op::Get:
    case Op::Add:
      w.bytes(q.keys[0]);
      w.i64(q.number);
      break;
    case Op::CompareSet:
      check_value(q.value, q.op, "expected value");
      check_value(q.desired, q.op, "desired value");
      w.bytes(q.keys[0]);
      w.bytes(q.value);
      w.bytes(q.desired);
      break;
    case Op::Check:
    case Op::Wait:
      w.u32(static_cast<std::uint32_t>(q.keys.size()));
      for (const auto& k : q.keys) w.bytes(k);
      if (q.op == Op::Wait) w.i64(q.number);
      break;
    case Op::DeleteKey:
      w.bytes(q.keys[0]);
      break;
    case Op::NumKeys:
      break;
  }
  return w.finish();
}

StoreBytes encode_response(const Response& a) {
  Writer w;
  w.u8(static_cast<std::uint8_t>(a.status));
  w.i64(a.number);
  w.bytes(a.payload);
  return w.finish();
}

Request decode_request(std::span<const std::uint8_t> body) {
  Reader r(body);
  Request q;
  const std::uint8_t op = r.u8();
  if (op < static_cast<std::uint8_t>(Op::Hello) || op > static_cast<std::uint8_t>(Op::NumKeys)) {
    throw ProtocolError(cat("unknown request type ", int{op}));
  }
  q.op = static_cast<Op>(op);
  switch (q.op) {
    case Op::Hello:
      q.number = r.u32();
      q.value = r.bytes(kMaxTokenBytes, "token");
      break;
    case Op::Set:
      q.keys.push_back(r.str(kMaxKeyBytes, "key"));
      q.value = r.bytes(kMaxValueBytes, "value");
      break;
    case Op::Get:
      q.keys.push_back(r.str(kMaxKeyBytes, "key"));
      q.number = timeout_field(r);
      break;
    case Op::Add:
      q.keys.push_back(r.str(kMaxKeyBytes, "key"));
      q.number = r.i64();
      break;
    case Op::CompareSet:
      q.keys.push_back(r.str(kMaxKeyBytes, "key"));
      q.value = r.bytes(kMaxValueBytes, "expected value");
      q.desired = r.bytes(kMaxValueBytes, "desired value");
      break;
    case Op::Check:
    case Op::Wait: {
      const std::uint32_t n = r.u32();
      if (n > kMaxKeysPerRequest) {
        throw ProtocolError(cat(n, " keys exceed the bound of ", kMaxKeysPerRequest));
      }
      for (std::uint32_t i = 0; i < n; ++i) q.keys.push_back(r.str(kMaxKeyBytes, "key"));
      if (q.op == Op::Wait) q.number = timeout_field(r);
      break;
    }
    case Op::DeleteKey:
      q.keys.push_back(r.str(kMaxKeyBytes, "key"));
      break;
    case Op::NumKeys:
      break;
  }
  r.finish();
  return q;
}

Response decode_response(std::span<const std::uint8_t> body) {
  Reader r(body);
  Response a;
  const std::uint8_t status = r.u8();
  if (status > static_cast<std::uint8_t>(Status::Error)) {
    throw ProtocolError(cat("unknown response status ", int{status}));
  }
  a.status = static_cast<Status>(status);
  a.number = r.i64();
  a.payload = r.bytes(kMaxValueBytes, "payload");
  r.finish();
  return a;
}

}  // namespace tensorpar::store_protocol
