#pragma once
// A worker of `tensorpar run`: a child process with its own environment, its stdout and stderr
// on pipes, and its own process group (so a terminal's Ctrl-C reaches the launcher, which
// forwards it, and a signal to the worker reaches whatever it started). A worker dies with its
// launcher (PR_SET_PDEATHSIG): a launcher killed outright leaves no orphans behind.
#include <sys/types.h>

#include <string>
#include <vector>

namespace tensorpar::cli {

// How a worker ended, in torchrun's terms: an exit code, or the signal that killed it.
struct ExitStatus {
  bool signaled = false;
  int code = 0;    // the exit code, or the signal number when signaled
  // "exit code 7" / "signal 9 (SIGKILL)".
  std::string describe() const;
  bool failed() const { return signaled || code != 0; }
  static ExitStatus from_wait_status(int status);
};

// "SIGKILL" for 9, "signal 64" for one without a name.
std::string signal_name(int signal);

// Resolves `program` like execvp (a name without '/' is searched in PATH); throws
// std::invalid_argument "program 'x' not found in PATH" when there is nothing to execute.
std::string resolve_program(const std::string& program);

class WorkerProcess {
 public:
  // Starts `path` with argv and the full environment `env` ("NAME=value" entries).
  WorkerProcess(int rank, const std::string& path, const std::vector<std::string>& argv,
                const std::vector<std::string>& env);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  int rank() const { return rank_; }
  pid_t pid() const { return pid_; }
  // The read ends of the worker's stdout and stderr; -1 once closed.
  int& stdout_fd() { return out_fd_; }
  int& stderr_fd() { return err_fd_; }

  // Sends `signal` to the worker's process group, unless it has been reaped.
  void signal(int signal) const;
  // Reaps the worker if it has ended (non-blocking); true once it has.
  bool poll_exit();
  bool running() const { return !exited_; }
  const ExitStatus& status() const { return status_; }

 private:
  int rank_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  ExitStatus status_;
};

}  // namespace tensorpar::cli
