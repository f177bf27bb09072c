#pragma once
// The launcher behind `tensorpar run` (torchrun's role): starts nproc_per_node workers of one
// program with torchrun's environment, hosts the store on node 0, relays the workers' output,
// and brings the whole job down when one worker fails.
//
//   tensorpar run --nproc-per-node 2 -- ./train --steps 10
//     rank r gets RANK=r WORLD_SIZE=2 LOCAL_RANK=r LOCAL_WORLD_SIZE=2 GROUP_RANK=0
//     MASTER_ADDR=127.0.0.1 MASTER_PORT=<the store's port> TENSORPAR_STORE_HOSTED=1
//     and its output lines appear as "[rank0]:step 1", "[rank1]:step 1", ...
//
// Multi-node: each node runs one launcher with --nnodes M --node-rank K and the same
// --master-addr/--master-port; node K's local worker j is RANK = K * nproc_per_node + j. Node 0
// hosts the store; the launchers meet there, and a failure on one node stops the others.
//
// Failure: the first worker to exit non-zero or by a signal is the root cause; every other
// worker gets SIGTERM, then SIGKILL after the grace period; the launcher prints a summary (rank,
// exit code or signal, pid, time, host) and returns 1. SIGINT or SIGTERM sent to the launcher
// is forwarded to every worker (same grace period), and the launcher returns 128 + the signal.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tensorpar::cli {

struct LaunchConfig {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  std::uint16_t master_port = 29500;  // 0 (single node only): any free port
  std::optional<std::string> log_dir;  // each rank's output also goes to <dir>/rank<R>.log
  std::chrono::milliseconds grace_period{5000};  // between SIGTERM and SIGKILL
  std::chrono::milliseconds store_timeout{300000};  // launchers meeting at the store
  std::vector<std::string> command;  // the program and its arguments
};

// Checks the configuration; std::invalid_argument naming the option and its value.
void validate(const LaunchConfig& config);

// Runs the job; returns the launcher's exit code (0 when every worker exited 0).
int launch(const LaunchConfig& config);

}  // namespace tensorpar::cli
