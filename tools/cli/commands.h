#pragma once
// The subcommands of `tensorpar`. Each takes its arguments (after the subcommand name) and
// returns the process exit code; bad arguments throw UsageError.
#include <string>
#include <vector>

namespace tensorpar::cli {

struct Command {
  const char* name;
  const char* summary;
  const char* usage;
  int (*run)(const std::vector<std::string>& args);
};

// Trains the reference Transformer with tensor parallelism on the simulated backend and checks
// it against the same model on one device.
int run_train(const std::vector<std::string>& args);
extern const char* const kTrainUsage;

// Runs a redistribute for real on the simulated backend and explains it.
int run_redistribute(const std::vector<std::string>& args);
extern const char* const kRedistributeUsage;

// Gradient checks and the sharding-rule matrix of every op (sim/op_check.h).
int run_check(const std::vector<std::string>& args);
extern const char* const kCheckUsage;

// What a sharded checkpoint holds, and one safetensors file of its weights (core/checkpoint).
int run_checkpoint(const std::vector<std::string>& args);
extern const char* const kCheckpointUsage;

// What a tensor x data parallel plan costs, predicted by the cost model (tools/plan).
int run_plan(const std::vector<std::string>& args);
extern const char* const kPlanUsage;
// Measures this machine as the simulated backend's ranks see it: a hardware profile (JSON).
int run_calibrate(const std::vector<std::string>& args);
extern const char* const kCalibrateUsage;

// Starts the workers of a multi-process job, as torchrun does (launcher.h).
int run_run(const std::vector<std::string>& args);
extern const char* const kRunUsage;

}  // namespace tensorpar::cli
