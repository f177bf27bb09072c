#include "tools/cli/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>

#include "core/comm/process_env.h"
#include "core/comm/tcp_store.h"
#include "core/base/error.h"
#include "tools/cli/line_prefixer.h"
#include "tools/cli/stdout_check.h"
#include "tools/cli/worker_process.h"

extern char** environ;

namespace tensorpar::cli {

using Clock = std::chrono::steady_clock;

void validate(const LaunchConfig& c) {
  check_arg(c.nproc_per_node >= 1, "--nproc-per-node must be >= 1, got ", c.nproc_per_node);
  check_arg(c.nnodes >= 1, "--nnodes must be >= 1, got ", c.nnodes);
  check_arg(c.node_rank >= 0 && c.node_rank < c.nnodes, "--node-rank must be in [0, ", c.nnodes,
            "), got ", c.node_rank);
  check_arg(c.nnodes == 1 || c.master_port != 0,
            "--master-port 0 (any free port) needs --nnodes 1: the other nodes must know the port");
  check_arg(!c.master_addr.empty(), "--master-addr must not be empty");
  check_arg(c.grace_period.count() >= 0, "--grace-period must be >= 0 s, got ",
            c.grace_period.count(), " ms");
  check_arg(!c.command.empty(), "no program given: tensorpar run [options] -- PROGRAM ARGS...");
}

namespace {

// SIGINT/SIGTERM/SIGCHLD become bytes on a pipe the main loop polls (the self-pipe trick).
int g_signal_pipe = -1;
extern "C" void on_signal(int s) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(s);
  (void)!::write(g_signal_pipe, &byte, 1);
  errno = saved;
}

class SignalPipe {
 public:
  SignalPipe() {
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw std::runtime_error(cat("pipe: ", std::strerror(errno)));
    }
    g_signal_pipe = fds_[1];
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &previous_[i]);
  }
  ~SignalPipe() {
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &previous_[i], nullptr);
    g_signal_pipe = -1;
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int fd() const { return fds_[0]; }
  // The terminating signal received since the last call (SIGINT or SIGTERM), or 0.
  int drain() {
    unsigned char buf[64];
    int stop = 0;
    ssize_t n;
    while ((n = ::read(fds_[0], buf, sizeof buf)) > 0) {
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == SIGINT || buf[i] == SIGTERM) stop = buf[i];
      }
    }
    return stop;
  }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGCHLD};
  int fds_[2] = {-1, -1};
  struct sigaction previous_[3];
};

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (fd == STDOUT_FILENO) note_stdout_write_error(n < 0 ? errno : 0);
      return;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string wall_time() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H:%M:%S UTC", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string random_token() {
  std::random_device rd;
  std::string t;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) t += hex[rd() % 16];
  return t;
}

// One worker's output: both streams, line by line, prefixed to the launcher's own, and raw to
// the rank's log file.
struct Relay {
  Relay(int rank, std::ofstream* log)
      : out([this](std::string_view l) { line(STDOUT_FILENO, l); }),
        err([this](std::string_view l) { line(STDERR_FILENO, l); }),
        prefix("[rank" + std::to_string(rank) + "]:"),
        log_(log) {}
  void line(int fd, std::string_view l) {
    std::string s = prefix;
    s.append(l);
    s.push_back('\n');
    write_all(fd, s);
    if (log_) *log_ << l << '\n' << std::flush;
  }
  LinePrefixer out, err;
  std::string prefix;
  std::ofstream* log_;
};

struct Failure {
  int rank = -1;
  int local_rank = -1;
  pid_t pid = 0;
  ExitStatus status;
  std::string time;
};

class Job {
 public:
  explicit Job(const LaunchConfig& c) : c_(c), world_size_(c.nnodes * c.nproc_per_node) {}

  int run();

 private:
  void host_or_join_store();
  std::vector<std::string> worker_env(int local_rank) const;
  void pump(WorkerProcess& w, Relay& r);
  void begin_stop(const std::string& reason);
  void report_failure() const;
  void say(const std::string& text) const { write_all(STDERR_FILENO, "tensorpar run: " + text + "\n"); }

  const LaunchConfig& c_;
  int world_size_;
  std::unique_ptr<TCPStoreServer> server_;
  std::unique_ptr<TCPStore> store_;  // the launchers' meeting point when nnodes > 1
  std::uint16_t port_ = 0;
  std::string token_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
  std::optional<Failure> first_;
  std::string stop_reason_;
  std::optional<Clock::time_point> kill_at_;
  bool killed_ = false;
};

void Job::host_or_join_store() {
  token_ = store_token_from_env().value_or(c_.nnodes == 1 ? random_token() : "");
  port_ = c_.master_port;
  if (c_.node_rank == 0) {
    server_ = std::make_unique<TCPStoreServer>(
        TCPStoreServerOptions{.host = c_.master_addr, .port = c_.master_port, .token = token_});
    port_ = server_->port();
  }
  if (c_.nnodes == 1) return;
  const std::string connect_host = c_.master_addr == "0.0.0.0" ? "127.0.0.1" : c_.master_addr;
  try {
    store_ = std::make_unique<TCPStore>(
        connect_host,
        TCPStoreOptions{.port = port_, .timeout = c_.store_timeout, .token = token_});
    if (store_->add("launcher/joined", 1) == c_.nnodes) store_->set("launcher/all_joined", "1");
    store_->wait({"launcher/all_joined"});
  } catch (const std::exception& e) {
    throw std::runtime_error(cat("node ", c_.node_rank, ": ", e.what()));
  }
}

std::vector<std::string> Job::worker_env(int local_rank) const {
  const int rank = c_.node_rank * c_.nproc_per_node + local_rank;
  const std::vector<std::pair<std::string, std::string>> ours = {
      {"RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(world_size_)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(c_.nproc_per_node)},
      {"GROUP_RANK", std::to_string(c_.node_rank)},
      {"ROLE_RANK", std::to_string(rank)},
      {"MASTER_ADDR", c_.master_addr == "0.0.0.0" ? "127.0.0.1" : c_.master_addr},
      {"MASTER_PORT", std::to_string(port_)},
      {kStoreHostedEnv, "1"},
      {kStoreTokenEnv, token_},
  };
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : ours) overridden = overridden || k == name;
    if (!overridden) env.push_back(entry);
  }
  for (const auto& [k, v] : ours) env.push_back(k + "=" + v);
  return env;
}

void Job::pump(WorkerProcess& w, Relay& r) {
  char buf[65536];
  for (int* fd : {&w.stdout_fd(), &w.stderr_fd()}) {
    if (*fd < 0) continue;
    LinePrefixer& p = fd == &w.stdout_fd() ? r.out : r.err;
    while (true) {
      const ssize_t n = ::read(*fd, buf, sizeof buf);
      if (n > 0) {
        p.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      p.finish();  // end of stream (or an error): the worker closed its end
      ::close(*fd);
      *fd = -1;
      break;
    }
  }
}

void Job::begin_stop(const std::string& reason) {
  if (kill_at_) return;
  stop_reason_ = reason;
  for (auto& w : workers_) w->signal(SIGTERM);
  kill_at_ = Clock::now() + c_.grace_period;
}

void Job::report_failure() const {
  std::string s;
  s += "============================================================\n";
  s += "tensorpar run: the job failed\n";
  s += "------------------------------------------------------------\n";
  s += "Root Cause (first observed failure):\n";
  s += "  time      : " + first_->time + "\n";
  s += "  host      : " + host_name() + "\n";
  s += cat("  rank      : ", first_->rank, " (local_rank: ", first_->local_rank, ")\n");
  const int code = first_->status.signaled ? -first_->status.code : first_->status.code;
  s += cat("  exitcode  : ", code, " (pid: ", first_->pid, ")\n");
  s += "  cause     : " + first_->status.describe() + "\n";
  s += "Other ranks:\n";
  for (const auto& w : workers_) {
    if (w->rank() == first_->rank) continue;
    s += cat("  rank ", w->rank(), "    : ", w->status().describe(),
             w->status().failed() ? " (stopped by the launcher)" : "", "\n");
  }
  s += "============================================================\n";
  write_all(STDERR_FILENO, s);
}

int Job::run() {
  const std::string program = resolve_program(c_.command[0]);
  SignalPipe signals;
  host_or_join_store();

  std::vector<std::unique_ptr<std::ofstream>> logs;
  if (c_.log_dir) std::filesystem::create_directories(*c_.log_dir);
  std::vector<std::unique_ptr<Relay>> relays;
  for (int local = 0; local < c_.nproc_per_node; ++local) {
    const int rank = c_.node_rank * c_.nproc_per_node + local;
    std::ofstream* log = nullptr;
    if (c_.log_dir) {
      const auto path = std::filesystem::path(*c_.log_dir) / cat("rank", rank, ".log");
      logs.push_back(std::make_unique<std::ofstream>(path));
      check_state(logs.back()->good(), "cannot write the log file ", path.string());
      log = logs.back().get();
    }
    relays.push_back(std::make_unique<Relay>(rank, log));
    workers_.push_back(std::make_unique<WorkerProcess>(rank, program, c_.command,
                                                       worker_env(local)));
  }

  int launcher_signal = 0;
  auto last_remote_check = Clock::now();
  std::optional<Clock::time_point> drain_until;
  while (true) {
    std::vector<pollfd> fds{{signals.fd(), POLLIN, 0}};
    for (auto& w : workers_) {
      for (int fd : {w->stdout_fd(), w->stderr_fd()}) {
        if (fd >= 0) fds.push_back({fd, POLLIN, 0});
      }
    }
    ::poll(fds.data(), fds.size(), 50);
    if (const int s = signals.drain()) {
      launcher_signal = s;
      for (auto& w : workers_) w->signal(s);  // forward as received, then the usual grace
      if (!kill_at_) {
        stop_reason_ = "the launcher received " + signal_name(s);
        kill_at_ = Clock::now() + c_.grace_period;
      }
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) pump(*workers_[i], *relays[i]);

    bool all_exited = true;
    for (auto& w : workers_) {
      const bool was_running = w->running();
      if (w->poll_exit() && was_running && w->status().failed() && !first_ && !launcher_signal &&
          !kill_at_) {
        first_ = Failure{w->rank(), w->rank() - c_.node_rank * c_.nproc_per_node, w->pid(),
                         w->status(), wall_time()};
        if (store_) {
          try {
            store_->set("launcher/failed", cat("rank ", w->rank(), " on node ", c_.node_rank,
                                                ": ", w->status().describe()));
          } catch (const std::exception&) {
          }
        }
        begin_stop(cat("rank ", w->rank(), " failed"));
      }
      all_exited = all_exited && !w->running();
    }
    // Another node's failure stops this node too (checked four times a second).
    if (store_ && !kill_at_ && Clock::now() - last_remote_check > std::chrono::milliseconds(250)) {
      last_remote_check = Clock::now();
      try {
        if (store_->check({"launcher/failed"})) {
          say("stopping: " + store_->get_string("launcher/failed"));
          begin_stop("another node failed");
        }
      } catch (const std::exception& e) {
        say(cat("stopping: the store at ", c_.master_addr, ":", port_, " is gone: ", e.what()));
        begin_stop("the store is gone");
      }
    }
    if (kill_at_ && !killed_ && Clock::now() >= *kill_at_) {
      for (auto& w : workers_) {
        if (w->running()) {
          say(cat("rank ", w->rank(), " did not stop within the grace period; sending SIGKILL"));
          w->signal(SIGKILL);
        }
      }
      killed_ = true;
    }
    bool pipes_open = false;
    for (auto& w : workers_) pipes_open = pipes_open || w->stdout_fd() >= 0 || w->stderr_fd() >= 0;
    if (all_exited) {
      // A worker's own children may hold its pipes open: drain for at most a second.
      if (!drain_until) drain_until = Clock::now() + std::chrono::milliseconds(1000);
      if (!pipes_open || Clock::now() >= *drain_until) break;
    }
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    relays[i]->out.finish();
    relays[i]->err.finish();
  }

  bool remote_failed = false;
  if (store_) {
    try {
      remote_failed = store_->check({"launcher/failed"});
      if (store_->add("launcher/finished", 1) == c_.nnodes) {
        store_->set("launcher/all_finished", "1");
      }
      if (server_) {  // node 0 keeps the store up until every launcher is done with it
        store_->wait({"launcher/all_finished"}, c_.grace_period + std::chrono::seconds(10));
      }
    } catch (const std::exception& e) {
      say(cat("node ", c_.node_rank, ": the launchers did not all finish: ", e.what()));
      remote_failed = true;
    }
  }
  if (launcher_signal) {
    say("stopped: " + stop_reason_);
    return 128 + launcher_signal;
  }
  if (first_) {
    report_failure();
    return 1;
  }
  if (remote_failed || kill_at_) {
    say("the job failed on another node; this node's workers were stopped");
    return 1;
  }
  return 0;
}

}  // namespace

int launch(const LaunchConfig& config) {
  validate(config);
  Job job(config);
  return job.run();
}

}  // namespace tensorpar::cli
