// ProcessEnv: torchrun's, Slurm's and Open MPI's variables, and the errors that name them.
#include <gtest/gtest.h>

#include <map>

#include "core/comm/process_env.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using testing::expect_error;
using Vars = std::map<std::string, std::string>;

EnvLookup lookup(Vars vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const Vars kTorchrun = {{"RANK", "5"},           {"WORLD_SIZE", "8"},       {"LOCAL_RANK", "1"},
                        {"LOCAL_WORLD_SIZE", "4"}, {"GROUP_RANK", "1"},       {"MASTER_ADDR", "node0"},
                        {"MASTER_PORT", "29500"}};

Vars with(Vars vars, const std::string& name, const std::string& value) {
  vars[name] = value;
  return vars;
}
Vars without(Vars vars, const std::string& name) {
  vars.erase(name);
  return vars;
}

TEST(ProcessEnv, ReadsTorchrunVariables) {
  const ProcessEnv p = read_process_env(lookup(kTorchrun));
  EXPECT_EQ(p.launcher, "torchrun");
  EXPECT_EQ(p.rank, 5);
  EXPECT_EQ(p.world_size, 8);
  EXPECT_EQ(p.local_rank, 1);
  EXPECT_EQ(p.local_world_size, 4);
  EXPECT_EQ(p.group_rank, 1);
  EXPECT_EQ(p.master_addr, "node0");
  EXPECT_EQ(p.master_port, 29500);
  EXPECT_FALSE(p.store_hosted);
  EXPECT_TRUE(read_process_env(lookup(with(kTorchrun, "TENSORPAR_STORE_HOSTED", "1"))).store_hosted);
}

TEST(ProcessEnv, LocalVariablesDefaultToOneNode) {
  const ProcessEnv p = read_process_env(lookup({{"RANK", "2"}, {"WORLD_SIZE", "3"},
                                                {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}));
  EXPECT_EQ(p.local_rank, 2);
  EXPECT_EQ(p.local_world_size, 3);
  EXPECT_EQ(p.group_rank, 0);
}

TEST(ProcessEnv, ReadsSlurmVariables) {
  const ProcessEnv p = read_process_env(
      lookup({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"},
              {"SLURM_NODEID", "1"}, {"SLURM_NTASKS_PER_NODE", "2(x2)"},
              {"MASTER_ADDR", "n0"}, {"MASTER_PORT", "1234"}}));
  EXPECT_EQ(p.launcher, "slurm");
  EXPECT_EQ(p.rank, 3);
  EXPECT_EQ(p.world_size, 4);
  EXPECT_EQ(p.local_rank, 1);
  EXPECT_EQ(p.local_world_size, 2);
  EXPECT_EQ(p.group_rank, 1);
}

TEST(ProcessEnv, ReadsOpenMpiVariables) {
  const ProcessEnv p = read_process_env(
      lookup({{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "6"},
              {"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"},
              {"MASTER_ADDR", "n0"}, {"MASTER_PORT", "1234"}}));
  EXPECT_EQ(p.launcher, "mpirun");
  EXPECT_EQ(p.rank, 5);
  EXPECT_EQ(p.local_rank, 2);
  EXPECT_EQ(p.group_rank, 1);  // derived: 5 / 3
}

TEST(ProcessEnv, TorchrunVariablesWinOverSlurm) {
  const ProcessEnv p = read_process_env(lookup(with(kTorchrun, "SLURM_PROCID", "0")));
  EXPECT_EQ(p.launcher, "torchrun");
}

TEST(ProcessEnv, MissingVariablesAreNamed) {
  expect_error<std::invalid_argument>([] { read_process_env(lookup({})); }, "RANK is not set");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(without(kTorchrun, "WORLD_SIZE"))); },
      "WORLD_SIZE is not set");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(without(kTorchrun, "MASTER_ADDR"))); },
      "MASTER_ADDR is not set");
  expect_error<std::invalid_argument>(
      [] {
        read_process_env(lookup({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"},
                                 {"MASTER_ADDR", "n0"}}));
      },
      "MASTER_PORT is not set");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup({{"OMPI_COMM_WORLD_RANK", "0"}})); },
      "OMPI_COMM_WORLD_SIZE is not set");
}

TEST(ProcessEnv, MalformedAndInconsistentVariablesAreNamedWithTheirValues) {
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "MASTER_PORT", "http"))); },
      "MASTER_PORT='http' is not an integer");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "MASTER_PORT", "70000"))); },
      "MASTER_PORT=70000 must be in [1, 65535]");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "RANK", "8"))); },
      "RANK=8 must be below WORLD_SIZE=8");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "RANK", "-1"))); }, "RANK=-1 must be in");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "LOCAL_RANK", "4"))); },
      "LOCAL_RANK=4 must be below LOCAL_WORLD_SIZE=4");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "LOCAL_WORLD_SIZE", "9"))); },
      "LOCAL_WORLD_SIZE=9 must not exceed WORLD_SIZE=8");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "GROUP_RANK", "2"))); },
      "GROUP_RANK=2 must be below the node count 2");
  expect_error<std::invalid_argument>(
      [] { read_process_env(lookup(with(kTorchrun, "TENSORPAR_STORE_HOSTED", "yes"))); },
      "TENSORPAR_STORE_HOSTED='yes' must be 0 or 1");
}

}  // namespace
}  // namespace tensorpar
