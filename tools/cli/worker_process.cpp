#include "tools/cli/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace tensorpar::cli {

std::string signal_name(int signal) {
  switch (signal) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    default: return "signal " + std::to_string(signal);
  }
}

std::string ExitStatus::describe() const {
  if (signaled) return "signal " + std::to_string(code) + " (" + signal_name(code) + ")";
  return "exit code " + std::to_string(code);
}

ExitStatus ExitStatus::from_wait_status(int status) {
  if (WIFSIGNALED(status)) return {true, WTERMSIG(status)};
  return {false, WIFEXITED(status) ? WEXITSTATUS(status) : 1};
}

namespace {

bool executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string resolve_program(const std::string& program) {
  if (program.empty()) throw std::invalid_argument("program must not be empty");
  if (program.find('/') != std::string::npos) {
    if (!executable(program)) {
      throw std::invalid_argument("program '" + program + "' is not an executable file");
    }
    return program;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string dir = dirs.substr(start, end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  throw std::invalid_argument("program '" + program + "' not found in PATH");
}

WorkerProcess::WorkerProcess(int rank, const std::string& path,
                             const std::vector<std::string>& argv,
                             const std::vector<std::string>& env)
    : rank_(rank) {
  // Everything the child needs is built before fork: between fork and exec it may only make
  // async-signal-safe calls (the launcher has threads: the store server's).
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + std::string(strerror(errno)));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error("pipe: " + std::string(strerror(errno)));
  }
  const pid_t launcher = ::getpid();
  // Signals stay blocked across fork until the child has reset the launcher's handlers: a
  // SIGTERM landing in between must kill the child, not run the launcher's handler in it (which
  // would write to the launcher's signal pipe and stop the whole job).
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &previous);
  pid_ = ::fork();
  if (pid_ != 0) ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid_ < 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    throw std::runtime_error("fork: " + std::string(strerror(errno)));
  }
  if (pid_ == 0) {
    ::setpgid(0, 0);
    // A launcher killed outright (SIGKILL, OOM) takes its workers with it: no orphans.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != launcher) ::_exit(1);
    ::dup2(out[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copies
    ::dup2(err[1], STDERR_FILENO);
    for (int s : {SIGINT, SIGTERM, SIGCHLD, SIGPIPE}) ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(path.c_str(), args.data(), envp.data());
    static const char kMessage[] = "tensorpar run: exec failed\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);  // also here: no race with an early signal() from the launcher
  ::close(out[1]);
  ::close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

WorkerProcess::~WorkerProcess() {
  close_fd(out_fd_);
  close_fd(err_fd_);
  if (!exited_ && pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void WorkerProcess::signal(int signal) const {
  if (exited_ || pid_ <= 0) return;
  if (::kill(-pid_, signal) != 0) ::kill(pid_, signal);
}

bool WorkerProcess::poll_exit() {
  if (exited_) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = ExitStatus::from_wait_status(status);
  }
  return exited_;
}

}  // namespace tensorpar::cli
