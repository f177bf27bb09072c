// The fuzz corpus of the TCPStore decoder (tests/fuzz/corpus/store_decoder) replayed on every
// build: each file goes through the fuzz target's checks (decode, re-encode, compare); the
// hand-written seeds decode, those named bad_* are refused. New finds of a fuzzing run are added
// as found_* (after `-merge=1`), reproducers of fixed crashes as crash_*.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/comm/tcp_store_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace tensorpar {
namespace {

namespace sp = store_protocol;

StoreBytes read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return StoreBytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Whether the server would accept every frame of the file.
bool decodes_whole(const StoreBytes& bytes) {
  std::span<const std::uint8_t> rest(bytes);
  try {
    while (!rest.empty()) {
      if (rest.size() < sp::kHeaderBytes) return false;
      const std::uint32_t n = sp::decode_header(rest.first<sp::kHeaderBytes>());
      rest = rest.subspan(sp::kHeaderBytes);
      if (n > rest.size()) return false;
      sp::decode_request(rest.first(n));
      rest = rest.subspan(n);
    }
  } catch (const sp::ProtocolError&) {
    return false;
  }
  return true;
}

TEST(StoreDecoderCorpus, EveryCorpusFileReplaysCleanly) {
  const std::filesystem::path dir = TENSORPAR_STORE_CORPUS_DIR;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const StoreBytes bytes = read_file(entry.path());
    SCOPED_TRACE(entry.path().filename().string());
    EXPECT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0);
    const std::string name = entry.path().filename().string();
    if (name.rfind("bad_", 0) == 0) {
      EXPECT_FALSE(decodes_whole(bytes));
    }
    // Hand-written seeds of valid sessions must decode; fuzzer finds (found_*) and crash
    // reproducers (crash_*) only have to pass the fuzz target's checks.
    const bool seed = name.rfind("found_", 0) != 0 && name.rfind("crash_", 0) != 0 &&
                      name.rfind("bad_", 0) != 0 && name.rfind("response", 0) != 0;
    if (seed) {
      EXPECT_TRUE(decodes_whole(bytes));
    }
    ++files;
  }
  EXPECT_GE(files, 10) << "the corpus at " << dir << " is missing";
}

}  // namespace
}  // namespace tensorpar
