// The fuzz corpora of the command-line parsers (tests/fuzz/corpus/{placements, shape, mesh,
// args}) replayed on every build through the fuzz targets' bodies (tests/fuzz/fuzz_*.cpp), which
// abort on a broken property. Hand-written seeds say what they are: those named bad_* must be
// refused and the other seeds accepted; a fuzzing run's finds (found_*, kept by `-merge=1`) and
// reproducers of fixed crashes (crash_*) only have to pass the bodies' checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "core/dtensor/placement.h"
#include "tests/fuzz/cli_fuzz_targets.h"
#include "tools/cli/args.h"
#include "tools/cli/mesh_flags.h"

namespace tensorpar {
namespace {

using Body = int (*)(const std::uint8_t*, std::size_t);
using Accepts = std::function<bool(const std::string&)>;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

void replay(const std::string& corpus, Body body, const Accepts& accepts) {
  const std::filesystem::path dir = std::filesystem::path(TENSORPAR_FUZZ_CORPUS_DIR) / corpus;
  int files = 0, seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const std::string bytes = read_file(entry.path());
    SCOPED_TRACE(corpus + "/" + name);
    EXPECT_EQ(body(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
    ++files;
    if (starts_with(name, "found_") || starts_with(name, "crash_")) continue;
    ++seeds;
    EXPECT_EQ(accepts(bytes), !starts_with(name, "bad_"));
  }
  EXPECT_GE(files, 20) << "the corpus at " << dir << " is missing";
  EXPECT_GE(seeds, 8) << "the hand-written seeds of " << dir << " are missing";
}

template <class Fn>
bool accepted(Fn&& parse) {
  try {
    parse();
    return true;
  } catch (const std::invalid_argument&) {  // parse_placements
    return false;
  } catch (const cli::UsageError&) {  // the command-line flags
    return false;
  }
}

TEST(CliFuzzCorpus, PlacementsReplayCleanly) {
  replay("placements", fuzz::placements_one_input,
         [](const std::string& text) { return accepted([&] { parse_placements(text); }); });
}

TEST(CliFuzzCorpus, ShapesReplayCleanly) {
  replay("shape", fuzz::shape_one_input, [](const std::string& text) {
    return accepted([&] { cli::parse_shape_flag(text, "--shape"); });
  });
}

TEST(CliFuzzCorpus, MeshesAndNamesReplayCleanly) {
  replay("mesh", fuzz::mesh_one_input, [](const std::string& text) {
    const auto newline = text.find('\n');
    const std::optional<std::string> names =
        newline == std::string::npos ? std::nullopt
                                     : std::optional<std::string>(text.substr(newline + 1));
    return accepted([&] { cli::parse_mesh_flags(text.substr(0, newline), names, 64); });
  });
}

TEST(CliFuzzCorpus, ArgumentsReplayCleanly) {
  replay("args", fuzz::args_one_input, [](const std::string& text) {
    std::vector<std::string> words;
    std::size_t start = 0;
    while (true) {
      const auto nul = text.find('\0', start);
      words.push_back(text.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
      if (nul == std::string::npos) break;
      start = nul + 1;
    }
    return accepted([&] {
      cli::Args(words, {"world", "layers", "dim", "lr", "trace"},
                {"json", "no-compare", "loss-parallel"});
    });
  });
}

}  // namespace
}  // namespace tensorpar
