#pragma once
// ProcessEnv: where this process sits in a job, read from its launcher's environment variables.
//
//   torchrun / tensorpar run:  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK,
//                              MASTER_ADDR, MASTER_PORT
//   srun (Slurm):              SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODEID,
//                              SLURM_NTASKS_PER_NODE (or SLURM_TASKS_PER_NODE), with
//                              MASTER_ADDR and MASTER_PORT set by the batch script
//   mpirun (Open MPI):         OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
//                              OMPI_COMM_WORLD_LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_SIZE, with
//                              MASTER_ADDR and MASTER_PORT
//
// The first family whose rank variable is set wins (torchrun's RANK, then Slurm, then Open MPI).
// RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT are required; the local variables default to a
// single node (LOCAL_RANK = RANK, LOCAL_WORLD_SIZE = WORLD_SIZE, GROUP_RANK = 0).
//
// Example: RANK=5 WORLD_SIZE=8 LOCAL_RANK=1 LOCAL_WORLD_SIZE=4 GROUP_RANK=1 MASTER_ADDR=node0
// MASTER_PORT=29500 reads as {rank 5 of 8, local rank 1 of 4, node 1, store at node0:29500}.
//
// A missing, malformed or inconsistent variable is std::invalid_argument naming it and its value:
// "RANK=8 must be below WORLD_SIZE=8", "MASTER_PORT='http' is not an integer".
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace tensorpar {

// Set to 1 by `tensorpar run` in its workers: the launcher hosts the store, rank 0 must not.
inline constexpr const char* kStoreHostedEnv = "TENSORPAR_STORE_HOSTED";
// The backend a program started by a launcher uses when it names none: "gloo", "nccl", ...
inline constexpr const char* kBackendEnv = "TENSORPAR_BACKEND";

struct ProcessEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int group_rank = 0;  // the node's index
  std::string master_addr;
  std::uint16_t master_port = 0;
  std::string launcher;       // "torchrun", "slurm" or "mpirun": which family was read
  bool store_hosted = false;  // TENSORPAR_STORE_HOSTED=1
};

// Reads one environment variable; nullopt when unset. The default reads the process's own.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> system_env(const std::string& name);

ProcessEnv read_process_env(const EnvLookup& env = system_env);

}  // namespace tensorpar
