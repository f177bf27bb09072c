#include "tools/cli/stdout_check.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace tensorpar::cli {

namespace {

std::atomic<int> g_write_error{0};  // the first errno of a failed write(2), 0 for none

// Why writes to standard output fail, asked of the descriptor itself: stdio keeps only an error
// flag for a write that failed while its buffer emptied (output past the first 4 KiB), not the
// errno. The output is incomplete by then, so one more byte costs nothing: a newline written
// straight to the descriptor fails with the reason (ENOSPC on a full device); 0 when it goes
// through (the failure was transient and its cause is gone).
int probe_stdout_error() {
  if (::write(STDOUT_FILENO, "\n", 1) == 1) return 0;
  return errno;
}

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
  int error = flush_error != 0 ? flush_error : g_write_error.load();
  if (error == 0) error = probe_stdout_error();
  return error != 0 ? std::string(std::strerror(error)) : std::string("a write failed");
}

}  // namespace tensorpar::cli
