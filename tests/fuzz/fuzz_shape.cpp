// libFuzzer target for --shape (parse_shape_flag): extents joined by 'x'. Whatever parses has
// non-negative extents whose product fits in int64 and prints back ("10x5") to the same shape;
// anything refused is a UsageError.
//
//   build/fuzz/tests/fuzz/fuzz_shape -max_total_time=150 tests/fuzz/corpus/shape
#include <cstdlib>
#include <limits>
#include <string>

#include "tests/fuzz/cli_fuzz_targets.h"
#include "tools/cli/args.h"
#include "tools/cli/mesh_flags.h"

namespace tensorpar::fuzz {

int shape_one_input(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Shape shape;
  try {
    shape = cli::parse_shape_flag(text, "--shape");
  } catch (const cli::UsageError&) {
    return 0;
  }
  if (shape.empty()) std::abort();
  std::string printed;
  std::int64_t elements = 1;
  for (const std::int64_t extent : shape) {
    if (extent < 0) std::abort();
    if (extent != 0 && elements > std::numeric_limits<std::int64_t>::max() / extent) std::abort();
    elements *= extent;
    if (!printed.empty()) printed += 'x';
    printed += std::to_string(extent);
  }
  if (cli::parse_shape_flag(printed, "--shape") != shape) std::abort();
  return 0;
}

}  // namespace tensorpar::fuzz

TENSORPAR_FUZZ_TARGET(shape_one_input)
