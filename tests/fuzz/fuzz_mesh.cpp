// libFuzzer target for --mesh and --names (parse_mesh_flags). The input is the --mesh text, a
// newline, and the --names text (no newline: no --names). Whatever is accepted is a mesh of 1 to
// 64 ranks, every dim at least 1, with no names or one unique non-empty name per dim; anything
// refused is a UsageError.
//
//   build/fuzz/tests/fuzz/fuzz_mesh -max_total_time=150 tests/fuzz/corpus/mesh
#include <cstdlib>
#include <optional>
#include <set>
#include <string>

#include "tests/fuzz/cli_fuzz_targets.h"
#include "tools/cli/args.h"
#include "tools/cli/mesh_flags.h"

namespace tensorpar::fuzz {

int mesh_one_input(const std::uint8_t* data, std::size_t size) {
  constexpr std::int64_t kMaxRanks = 64;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto newline = text.find('\n');
  const std::string mesh_text = text.substr(0, newline);
  std::optional<std::string> names_text;
  if (newline != std::string::npos) names_text = text.substr(newline + 1);
  cli::MeshFlags flags;
  try {
    flags = cli::parse_mesh_flags(mesh_text, names_text, kMaxRanks);
  } catch (const cli::UsageError&) {
    return 0;
  }
  std::int64_t ranks = 1;
  for (const std::int64_t extent : flags.mesh) {
    if (extent < 1 || extent > kMaxRanks) std::abort();
    ranks *= extent;
  }
  if (flags.mesh.empty() || ranks > kMaxRanks) std::abort();
  if (!names_text && !flags.names.empty()) std::abort();
  if (names_text) {
    if (flags.names.size() != flags.mesh.size()) std::abort();
    const std::set<std::string> unique(flags.names.begin(), flags.names.end());
    if (unique.size() != flags.names.size() || unique.count("") != 0) std::abort();
  }
  return 0;
}

}  // namespace tensorpar::fuzz

TENSORPAR_FUZZ_TARGET(mesh_one_input)
