#pragma once
// Command-line flags of the `tensorpar` subcommands: --name value and boolean --name.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace tensorpar::cli {

// A bad command line; main prints it with the usage text and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // Parses argv against the allowed flags: `valued` take a value, `booleans` do not.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
       const std::set<std::string>& booleans);

  bool has(const std::string& name) const;
  std::optional<std::string> get(const std::string& name) const;
  // The value of a required flag; UsageError naming it when missing.
  std::string require(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> booleans_;
};

// The integer value of --name, `fallback` when absent; UsageError naming the flag when the value
// is not an integer or lies outside [lo, hi] ("--gpus 0 is out of range [1, 65536]").
std::int64_t integer_flag(const Args& args, const std::string& name, std::int64_t fallback,
                          std::int64_t lo, std::int64_t hi);

// The finite number value of --name, `fallback` when absent; UsageError naming the flag otherwise.
double real_flag(const Args& args, const std::string& name, double fallback);

// Splits "a,b,c" into its parts (an empty string gives none).
std::vector<std::string> split_list(const std::string& text);

}  // namespace tensorpar::cli
