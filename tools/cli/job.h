#pragma once
// --backend for the commands that run ranks (train, redistribute): `sim` runs every rank as a
// thread of this process; a process backend (`gloo`) makes this process one rank of a job
// started by `tensorpar run` (or torchrun, srun, mpirun), which it joins through ProcessWorld.
// `gloo` moves CPU tensors, `nccl` CUDA tensors (one GPU per process: cuda:LOCAL_RANK).
//
//   tensorpar run --nproc-per-node 4 -- tensorpar train --backend gloo
//   tensorpar run --nproc-per-node 8 -- tensorpar train --backend nccl --device cuda
//
// Under a process backend every rank does its part and rank 0 gathers what the others measured
// (gather_to_rank0) to print the one report; the other ranks print only errors.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/comm/process_world.h"
#include "tools/cli/args.h"

namespace tensorpar::cli {

// The backends --backend accepts in this build: "sim", "gloo" when built with Gloo, "nccl" when
// built with CUDA and NCCL.
std::vector<std::string> cli_backends();

// --backend's value ("sim" when absent); UsageError for one this build does not have, except
// "nccl" in a build without NCCL: std::runtime_error "--backend nccl: this tensorpar was built
// without NCCL (...)".
std::string backend_flag(const Args& args);

// Where this process sits in the job it was started in (`what` is the command, for the
// message). UsageError when no launcher's variables are set (RANK, SLURM_PROCID,
// OMPI_COMM_WORLD_RANK) or they are malformed, or when `expected_world` (> 0) differs from
// WORLD_SIZE.
ProcessEnv launched_env(const std::string& backend, const std::string& what, int expected_world);

// Joins the job as one rank of `backend`. TENSORPAR_TIMEOUT_MS, when set, is the collective
// timeout (a rank stuck in a collective fails after it) and the store's timeout.
std::unique_ptr<ProcessWorld> join_job(const std::string& backend);

// The collective timeout join_job uses: TENSORPAR_TIMEOUT_MS, else 300 s.
std::chrono::milliseconds job_timeout();

// Every rank's `values` (any length) on every rank, in rank order: two all_gathers (the
// lengths, then the values padded to the longest).
std::vector<std::vector<double>> all_gather_doubles(Communicator& comm,
                                                    const std::vector<double>& values);

}  // namespace tensorpar::cli
