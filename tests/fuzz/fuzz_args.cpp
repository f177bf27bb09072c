// libFuzzer target for the argument parser (Args) with the flags of `tensorpar train`. The input
// is the argument words separated by NUL bytes. Whatever parses gives back, for every flag, the
// value of its last occurrence; anything refused is a UsageError.
//
//   build/fuzz/tests/fuzz/fuzz_args -max_total_time=150 tests/fuzz/corpus/args
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/fuzz/cli_fuzz_targets.h"
#include "tools/cli/args.h"

namespace tensorpar::fuzz {

int args_one_input(const std::uint8_t* data, std::size_t size) {
  static const std::set<std::string> kValued = {"world", "layers", "dim", "lr", "trace"};
  static const std::set<std::string> kBooleans = {"json", "no-compare", "loss-parallel"};
  std::vector<std::string> words;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto nul = text.find('\0', start);
    words.push_back(text.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  try {
    const cli::Args args(words, kValued, kBooleans);
    // Accepted: every word is a flag, a valued flag's value is the next word unless written
    // --name=value, and the last occurrence of a flag wins.
    std::map<std::string, std::string> values;
    std::set<std::string> booleans;
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (words[i].rfind("--", 0) != 0) std::abort();
      const std::string flag = words[i].substr(2);
      const auto eq = flag.find('=');
      const std::string name = flag.substr(0, eq);
      if (kBooleans.count(name)) {
        if (eq != std::string::npos) std::abort();
        booleans.insert(name);
      } else if (kValued.count(name)) {
        values[name] = eq != std::string::npos ? flag.substr(eq + 1) : words.at(++i);
      } else {
        std::abort();
      }
    }
    for (const std::string& name : kValued) {
      const auto it = values.find(name);
      const std::optional<std::string> expected =
          it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
      if (args.get(name) != expected || args.has(name) != expected.has_value()) std::abort();
      if (expected && cli::split_list(*expected).empty() != expected->empty()) std::abort();
    }
    for (const std::string& name : kBooleans) {
      if (args.has(name) != (booleans.count(name) > 0) || args.get(name)) std::abort();
    }
  } catch (const cli::UsageError&) {
  }
  return 0;
}

}  // namespace tensorpar::fuzz

TENSORPAR_FUZZ_TARGET(args_one_input)
