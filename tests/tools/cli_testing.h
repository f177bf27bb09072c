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

// Runs a shell command line; `out` is what it wrote on the pipe.
inline Result run_shell(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Runs the binary with `args`; stderr joins stdout unless `stdout_only`.
inline Result run_cli(const std::string& args, bool stdout_only = false) {
  return run_shell(std::string(TENSORPAR_CLI_PATH) + " " + args +
                   (stdout_only ? " 2>/dev/null" : " 2>&1"));
}

// Runs the binary with `args` and its stdout sent to `stdout_path` (/dev/full: a full disk);
// `out` is what it wrote on stderr.
inline Result run_cli_stdout_to(const std::string& args, const std::string& stdout_path) {
  return run_shell(std::string(TENSORPAR_CLI_PATH) + " " + args + " 2>&1 >" + stdout_path);
}

}  // namespace tensorpar::cli_testing
