// libFuzzer target for the placement-list parser behind --from / --to (parse_placements).
// Beyond "no crash, no sanitizer report": whatever parses prints as canonical text (R, S(d),
// P(op)) that parses back to the same placements, and anything refused is refused with
// std::invalid_argument (the command turns it into a usage error).
//
//   cmake --preset fuzz && cmake --build --preset fuzz
//   build/fuzz/tests/fuzz/fuzz_placements -max_total_time=150 tests/fuzz/corpus/placements
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/dtensor/placement.h"
#include "tests/fuzz/cli_fuzz_targets.h"

namespace tensorpar::fuzz {

int placements_one_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Placements parsed;
  try {
    parsed = parse_placements(text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  if (parsed.empty()) std::abort();  // even "" is one (bad) placement
  std::string canonical;
  for (const Placement& p : parsed) {
    if (!canonical.empty()) canonical += ',';
    canonical += p.str();
  }
  try {
    if (parse_placements(canonical) != parsed) std::abort();
  } catch (const std::invalid_argument&) {
    std::abort();  // printed placements must parse
  }
  return 0;
}

}  // namespace tensorpar::fuzz

TENSORPAR_FUZZ_TARGET(placements_one_input)
