#include "tools/cli/stdout_check.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace tensorpar::cli {

namespace {

std::atomic<int> g_write_error{0};  // the first errno of a failed write(2), 0 for none

}  // namespace

void note_stdout_write_error(int error) {
  int none = 0;
  g_write_error.compare_exchange_strong(none, error == 0 ? EIO : error);
}

std::optional<std::string> stdout_write_error() {
  errno = 0;
  std::cout.flush();  // through stdio: a failure shows in stdout's error flag and errno
  const bool flushed = std::fflush(stdout) == 0;
  const int flush_error = errno;
  if (flushed && !std::ferror(stdout) && std::cout.good() && g_write_error.load() == 0) {
    return std::nullopt;
  }
  const int error = flush_error != 0 ? flush_error : g_write_error.load();
  // A write that failed before the final flush leaves only the stream's error flag behind.
  return error != 0 ? std::string(std::strerror(error)) : std::string("a write failed");
}

}  // namespace tensorpar::cli
