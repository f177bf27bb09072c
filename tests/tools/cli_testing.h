#pragma once
// Runs the built `tensorpar` binary (TENSORPAR_CLI_PATH) as a user would.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace tensorpar::cli_testing {

struct Result {
  int exit_code;
  std::string out;
};

// Runs the binary with `args`; stderr joins stdout unless `stdout_only`.
inline Result run_cli(const std::string& args, bool stdout_only = false) {
  const std::string command =
      std::string(TENSORPAR_CLI_PATH) + " " + args + (stdout_only ? " 2>/dev/null" : " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace tensorpar::cli_testing
