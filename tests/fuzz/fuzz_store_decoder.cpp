// libFuzzer target for the TCPStore server's message decoder (tcp_store_protocol.h).
//
// The input is what a client could send after its connection opens: frames one after another.
// Each frame goes through the server's two steps (decode_header, then decode_request on the
// body). Properties checked beyond "no crash, no sanitizer report": a body that decodes
// re-encodes to the very same bytes (the format is canonical), and a response round-trips.
//
//   cmake --preset fuzz && cmake --build build/fuzz --target fuzz_store_decoder
//   build/fuzz/tests/fuzz/fuzz_store_decoder -max_total_time=120 tests/fuzz/corpus/store_decoder
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/comm/tcp_store_protocol.h"

namespace sp = tensorpar::store_protocol;

// Shared with the regression test (tests/core/comm/test_store_decoder_corpus.cpp), which feeds
// it every corpus file on every build.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> rest(data, size);
  while (rest.size() >= sp::kHeaderBytes) {
    std::uint32_t n = 0;
    try {
      n = sp::decode_header(rest.first<sp::kHeaderBytes>());
    } catch (const sp::ProtocolError&) {
      return 0;  // the server drops the client here
    }
    rest = rest.subspan(sp::kHeaderBytes);
    if (n > rest.size()) return 0;  // the client would still be sending
    const auto body = rest.first(n);
    rest = rest.subspan(n);
    try {
      const sp::Request q = sp::decode_request(body);
      const tensorpar::StoreBytes again = sp::encode_request(q);
      if (again.size() != n + sp::kHeaderBytes ||
          !std::equal(body.begin(), body.end(), again.begin() + sp::kHeaderBytes)) {
        std::abort();  // decode and encode disagree
      }
    } catch (const sp::ProtocolError&) {
      return 0;
    }
  }
  // The same bytes as a response body (what a client decodes).
  try {
    const sp::Response a = sp::decode_response({data, size});
    const tensorpar::StoreBytes again = sp::encode_response(a);
    if (again.size() != size + sp::kHeaderBytes) std::abort();
  } catch (const sp::ProtocolError&) {
  }
  return 0;
}
