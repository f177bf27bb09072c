// `tensorpar run`: real worker processes (tests/support/run_worker.cpp) on loopback, and the
// faults of issue 10 part 5, each ending in seconds with a non-zero exit code and a clear cause.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/wait.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "launcher_testing.h"
#include "tools/cli_testing.h"

namespace tensorpar {
namespace {

using launcher_testing::free_port;
using launcher_testing::Launch;
using launcher_testing::Outcome;
using launcher_testing::run_launcher;
using ::testing::HasSubstr;
using ::testing::Not;

void record(const char* what, const Outcome& o) {
  ::testing::Test::RecordProperty(what, std::to_string(o.seconds));
  std::cout << "[ timing   ] " << what << ": " << o.seconds << " s\n";
}

TEST(CliRun, WorkersGetTorchrunsEnvironmentAndPrefixedOutput) {
  const Outcome o = run_launcher({"--nproc-per-node", "3", "--master-port", "0", "--",
                                  "{worker}", "print-env"});
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_THAT(o.out, HasSubstr("[rank0]:rank=0 world=3 local=0 local_world=3 group=0 "
                               "addr=127.0.0.1 port="));
  EXPECT_THAT(o.out, HasSubstr("[rank2]:rank=2 world=3 local=2"));
  EXPECT_THAT(o.out, HasSubstr("hosted=1 token=set"));
  EXPECT_THAT(o.out, HasSubstr("[rank1]:stderr of rank 1"));
  EXPECT_THAT(o.out, Not(HasSubstr("port=0 ")));  // port 0 became the store's real port
  record("three workers, start to exit", o);
}

TEST(CliRun, RanksMeetAtTheStoreTheLauncherHosts) {
  const Outcome o =
      run_launcher({"--nproc-per-node", "4", "--master-port", "0", "{worker}", "rendezvous"});
  ASSERT_EQ(o.exit_code, 0) << o.out;
  for (int r = 0; r < 4; ++r) {
    EXPECT_THAT(o.out, HasSubstr("[rank" + std::to_string(r) + "]:met 4 ranks"));
  }
}

TEST(CliRun, ALastLineWithoutNewlineIsStillPrefixed) {
  const Outcome o = run_launcher({"--master-port", "0", "--", "{worker}", "partial-line"});
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_THAT(o.out, HasSubstr("[rank0]:no newline\n"));
}

TEST(CliRun, LogDirHoldsEachRanksOutput) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("tensorpar_run_logs_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const Outcome o = run_launcher({"--nproc-per-node", "2", "--master-port", "0", "--log-dir",
                                  dir.string(), "--", "{worker}", "print-env"});
  ASSERT_EQ(o.exit_code, 0) << o.out;
  for (int r = 0; r < 2; ++r) {
    std::ifstream f(dir / ("rank" + std::to_string(r) + ".log"));
    std::stringstream text;
    text << f.rdbuf();
    EXPECT_THAT(text.str(), HasSubstr("rank=" + std::to_string(r) + " world=2"));
    EXPECT_THAT(text.str(), HasSubstr("stderr of rank " + std::to_string(r)));
    EXPECT_THAT(text.str(), Not(HasSubstr("[rank")));
  }
  std::filesystem::remove_all(dir);
}

TEST(CliRun, AWorkerExitingWithSevenStopsTheJobAndIsNamed) {
  const Outcome o = run_launcher({"--nproc-per-node", "3", "--master-port", "0", "--",
                                  "{worker}", "exit", "7", "1"});
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("Root Cause (first observed failure):"));
  EXPECT_THAT(o.out, HasSubstr("rank      : 1 (local_rank: 1)"));
  EXPECT_THAT(o.out, HasSubstr("exitcode  : 7 (pid: "));
  EXPECT_THAT(o.out, HasSubstr("cause     : exit code 7"));
  EXPECT_THAT(o.out, HasSubstr("time      : "));
  EXPECT_THAT(o.out, HasSubstr("rank 0    : signal 15 (SIGTERM) (stopped by the launcher)"));
  EXPECT_THAT(o.out, HasSubstr("rank 2    : signal 15 (SIGTERM) (stopped by the launcher)"));
  record("a worker exits 7: job down", o);
}

TEST(CliRun, AWorkerKilledBySigkillIsNamedWithItsSignal) {
  const Outcome o = run_launcher({"--nproc-per-node", "2", "--master-port", "0", "--",
                                  "{worker}", "kill-self", "0"});
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("[rank0]:killing myself"));
  EXPECT_THAT(o.out, HasSubstr("rank      : 0 (local_rank: 0)"));
  EXPECT_THAT(o.out, HasSubstr("exitcode  : -9 (pid: "));
  EXPECT_THAT(o.out, HasSubstr("cause     : signal 9 (SIGKILL)"));
  record("a worker is SIGKILLed: job down", o);
}

TEST(CliRun, WorkersIgnoringSigtermGetSigkillAfterTheGracePeriod) {
  const Outcome o = run_launcher({"--nproc-per-node", "3", "--master-port", "0",
                                  "--grace-period", "0.5", "--", "{worker}", "ignore-term", "2"});
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("cause     : exit code 5"));
  EXPECT_THAT(o.out, HasSubstr("rank 0 did not stop within the grace period; sending SIGKILL"));
  EXPECT_THAT(o.out, HasSubstr("rank 1    : signal 9 (SIGKILL) (stopped by the launcher)"));
  record("workers ignoring SIGTERM, grace 0.5 s: job down", o);
}

TEST(CliRun, SigtermToTheLauncherIsForwardedToEveryWorker) {
  Launch l({"--nproc-per-node", "2", "--master-port", "0", "--", "{worker}", "wait-store"});
  // Both ranks meet, then wait on a key nobody sets: the job sits there until signalled.
  ASSERT_TRUE(l.wait_for_output("[rank0]:waiting", std::chrono::seconds(10)));
  ASSERT_TRUE(l.wait_for_output("[rank1]:waiting", std::chrono::seconds(10)));
  l.signal(SIGTERM);
  const Outcome o = l.finish();
  EXPECT_EQ(o.exit_code, 128 + SIGTERM) << o.out;
  EXPECT_THAT(o.out, HasSubstr("stopped: the launcher received SIGTERM"));
}

TEST(CliRun, APortAlreadyInUseIsNamed) {
  TCPStoreServer squatter({.host = "127.0.0.1"});
  const std::string port = std::to_string(squatter.port());
  const Outcome o =
      run_launcher({"--master-port", port, "--", "{worker}", "print-env"});
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("cannot listen on 127.0.0.1:" + port + ": Address already in use"));
}

TEST(CliRun, AnUnreachableMasterTimesOutNamingTheNodeAndAddress) {
  const std::string port = std::to_string(free_port());
  const Outcome o = run_launcher({"--nnodes", "2", "--node-rank", "1", "--master-port", port,
                                  "--store-timeout", "1", "--", "{worker}", "print-env"});
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("node 1: TCPStore: could not connect to 127.0.0.1:" + port +
                               " within 1000 ms"));
  record("unreachable master, 1 s store timeout", o);
}

TEST(CliRun, AMalformedStoreMessageDropsOnlyItsSender) {
  const Outcome o =
      run_launcher({"--nproc-per-node", "2", "--master-port", "0", "--", "{worker}", "malformed"});
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_THAT(o.out, HasSubstr("[rank0]:the store dropped the malformed frame"));
  EXPECT_THAT(o.out, HasSubstr("[rank1]:met 2 ranks"));
}

// Issue 10 part 5: a worker that never calls a collective the others wait in. Their gloo
// collective timeout (1 s here) ends them with an error naming the collective and the rank;
// the launcher names the first of them and takes the job down: it never waits on a collective.
TEST(CliRun, AWorkerStuckOutsideACollectiveEndsTheJobByTheCollectiveTimeout) {
#ifndef TENSORPAR_HAVE_GLOO
  GTEST_SKIP() << "built without Gloo";
#endif
  const Outcome o = run_launcher({"--nproc-per-node", "3", "--master-port", "0",
                                  "--grace-period", "1", "--", "{worker}", "stuck-collective",
                                  "2", "1000"});
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("[rank2]:rank 2 skips the all_reduce"));
  EXPECT_THAT(o.out, HasSubstr("all_reduce timed out after 1000 ms on rank "));
  EXPECT_THAT(o.out, HasSubstr("Root Cause (first observed failure):"));
  EXPECT_THAT(o.out, ::testing::ContainsRegex("rank      : [01] \\(local_rank: [01]\\)"));
  EXPECT_THAT(o.out, HasSubstr("cause     : exit code 3"));
  EXPECT_THAT(o.out, HasSubstr("rank 2    : signal 15 (SIGTERM) (stopped by the launcher)"));
  EXPECT_THAT(o.out, Not(HasSubstr("all_reduce returned")));
  EXPECT_LT(o.seconds, 10.0) << o.out;
  record("a worker skips an all_reduce, 1 s collective timeout: job down", o);
}

std::vector<std::string> node(int rank, const std::string& port, std::vector<std::string> rest) {
  std::vector<std::string> args = {"--nproc-per-node", "2",  "--nnodes", "2",
                                   "--node-rank",      std::to_string(rank), "--master-addr",
                                   "127.0.0.1",        "--master-port", port,
                                   "--store-timeout",  "10", "--grace-period", "1", "--"};
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

TEST(CliRun, TwoLaunchersFormOneWorldOfFourRanks) {
  const std::string port = std::to_string(free_port());
  Launch node1(node(1, port, {"{worker}", "rendezvous"}));
  Launch node0(node(0, port, {"{worker}", "rendezvous"}));
  const Outcome o0 = node0.finish(), o1 = node1.finish();
  ASSERT_EQ(o0.exit_code, 0) << o0.out;
  ASSERT_EQ(o1.exit_code, 0) << o1.out;
  EXPECT_THAT(o0.out, HasSubstr("[rank0]:met 4 ranks"));
  EXPECT_THAT(o0.out, HasSubstr("[rank1]:met 4 ranks"));
  EXPECT_THAT(o1.out, HasSubstr("[rank2]:met 4 ranks"));
  EXPECT_THAT(o1.out, HasSubstr("[rank3]:met 4 ranks"));
  record("two launchers x 2 workers", o0);
}

TEST(CliRun, AFailureOnOneNodeStopsTheOtherNode) {
  const std::string port = std::to_string(free_port());
  Launch node0(node(0, port, {"{worker}", "exit", "7", "3"}));
  Launch node1(node(1, port, {"{worker}", "exit", "7", "3"}));
  const Outcome o1 = node1.finish(), o0 = node0.finish();
  EXPECT_EQ(o1.exit_code, 1) << o1.out;
  EXPECT_THAT(o1.out, HasSubstr("rank      : 3 (local_rank: 1)"));
  EXPECT_EQ(o0.exit_code, 1) << o0.out;
  EXPECT_THAT(o0.out, HasSubstr("stopping: rank 3 on node 1: exit code 7"));
  record("failure on node 1: node 0 down", o0);
}

// Waits (up to 10 s) until this process has no children left, reaping them; false if some remain.
bool reap_all_children() {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    const pid_t r = ::waitpid(-1, nullptr, WNOHANG);
    if (r < 0 && errno == ECHILD) return true;
    if (r == 0) ::usleep(5000);
  }
  return false;
}

TEST(CliRun, TheStoreServerGoneEndsEveryWorkerWithTheCause) {
  // node 0's workers lose their launcher: as this process's grandchildren they come back here
  // (a subreaper), which lets the test check that every one of them exits.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const std::string port = std::to_string(free_port());
  Launch node0(node(0, port, {"{worker}", "wait-store"}));
  Launch node1(node(1, port, {"{worker}", "wait-store"}));
  ASSERT_TRUE(node1.wait_for_output("[rank3]:waiting", std::chrono::seconds(10)));
  ASSERT_TRUE(node0.wait_for_output("[rank1]:waiting", std::chrono::seconds(10)));
  node0.signal(SIGKILL);  // the store's host dies without a word
  const Outcome o1 = node1.finish();
  EXPECT_EQ(o1.exit_code, 1) << o1.out;
  EXPECT_THAT(o1.out, HasSubstr("lost the server at 127.0.0.1:" + port));
  EXPECT_THAT(o1.out, HasSubstr("exitcode  : 3"));
  node0.finish();
  record("store host killed: node 1 down", o1);
  EXPECT_TRUE(reap_all_children()) << "a worker outlived its launcher";
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(CliRun, WorkersOutputThatCannotBeRelayedFailsTheLaunch) {
  // The workers succeed, but their lines never reach the launcher's stdout (a full disk).
  const cli_testing::Result r = cli_testing::run_cli_stdout_to(
      "run --master-port 0 --nproc-per-node 2 -- /bin/echo hello", "/dev/full");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("tensorpar run: cannot write to standard output: No space left "
                               "on device"));
}

TEST(CliRun, BadCommandLinesAreUsageErrors) {
  Outcome o = run_launcher({});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.out, HasSubstr("no program given"));
  o = run_launcher({"--nnodes", "2", "--master-port", "0", "--", "{worker}"});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.out, HasSubstr("--master-port 0 (any free port) needs --nnodes 1"));
  o = run_launcher({"--nproc-per-node", "two", "--", "{worker}"});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.out, HasSubstr("--nproc-per-node must be an integer in [1, 4096], got 'two'"));
  o = run_launcher({"--node-rank", "3", "--", "{worker}"});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.out, HasSubstr("--node-rank must be in [0, 1), got 3"));
  o = run_launcher({"--master-port", "0", "--", "/nonexistent/program"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.out, HasSubstr("program '/nonexistent/program' is not an executable file"));
  o = run_launcher({"--master-port", "0", "no_such_program_xyz"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.out, HasSubstr("program 'no_such_program_xyz' not found in PATH"));
}

}  // namespace
}  // namespace tensorpar
