#pragma once
// The bodies of the command-line parsers' libFuzzer targets (tests/fuzz/fuzz_<name>.cpp). Each
// returns 0 and aborts on a broken property; a target's LLVMFuzzerTestOneInput calls its body,
// and the corpus replay (tests/tools/test_cli_fuzz_corpus.cpp) calls all four on every build.
#include <cstddef>
#include <cstdint>

namespace tensorpar::fuzz {

// --from / --to: placement lists such as "S(0),P(max)" or "R, S1".
int placements_one_input(const std::uint8_t* data, std::size_t size);
// --shape: "10x5".
int shape_one_input(const std::uint8_t* data, std::size_t size);
// --mesh and --names, the input's text before the first newline and after it: "2x2\ndp,tp".
int mesh_one_input(const std::uint8_t* data, std::size_t size);
// The argument parser: NUL-separated words against the flags of `tensorpar train`.
int args_one_input(const std::uint8_t* data, std::size_t size);

}  // namespace tensorpar::fuzz

// The entry point libFuzzer calls; left out of the replay build, which links all four bodies.
#ifdef TENSORPAR_FUZZ_ENTRY
#define TENSORPAR_FUZZ_TARGET(body)                                                   \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    return tensorpar::fuzz::body(data, size);                                         \
  }
#else
#define TENSORPAR_FUZZ_TARGET(body)
#endif
