#pragma once
// Starts `tensorpar run ...` as a child process (so a test can signal it), collects its output,
// and never waits longer than a deadline: a launcher still running then is killed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/comm/tcp_store_server.h"

namespace tensorpar::launcher_testing {

struct Outcome {
  int exit_code = -1;  // 128 + N when killed by signal N
  std::string out;     // stdout and stderr together
  double seconds = 0;  // wall time from start to exit
};

class Launch {
 public:
  // Runs TENSORPAR_CLI_PATH with "run" and `args`; "{worker}" in args becomes the run_worker path.
  explicit Launch(std::vector<std::string> args) {
    std::vector<std::string> argv = {TENSORPAR_CLI_PATH, "run"};
    for (auto& a : args) argv.push_back(a == "{worker}" ? TENSORPAR_RUN_WORKER_PATH : a);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int fds[2];
    (void)!::pipe2(fds, O_CLOEXEC);
    start_ = std::chrono::steady_clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Launch() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int s) const { ::kill(pid_, s); }

  // Reads output until the marker appears (or the deadline); true when it did.
  bool wait_for_output(const std::string& marker, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (outcome_.out.find(marker) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= end || !read_some(end)) return false;
    }
    return true;
  }

  // Reads until the launcher closes its output and exits; kills it past `deadline`.
  Outcome finish(std::chrono::milliseconds deadline = std::chrono::milliseconds(30000)) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (read_some(end)) {
    }
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= end) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        outcome_.out += "\n<launcher killed by the test: it ran past the deadline>\n";
        break;
      }
      ::usleep(5000);
    }
    reaped_ = true;
    outcome_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    outcome_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return outcome_;
  }

 private:
  // False at end of output or past the deadline.
  bool read_some(std::chrono::steady_clock::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    outcome_.out.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::chrono::steady_clock::time_point start_;
  Outcome outcome_;
};

inline Outcome run_launcher(std::vector<std::string> args) {
  Launch l(std::move(args));
  return l.finish();
}

// A port nothing listens on (just released by a server).
inline std::uint16_t free_port() {
  TCPStoreServer probe({.host = "127.0.0.1"});
  return probe.port();
}

}  // namespace tensorpar::launcher_testing
