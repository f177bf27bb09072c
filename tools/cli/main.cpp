// tensorpar: git-style subcommands over the library.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#ifdef TENSORPAR_HAVE_GLOO
#include "gloo/gloo_backend.h"
#endif
#ifdef TENSORPAR_HAVE_NCCL
#include "cuda/nccl_backend.h"
#endif
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/stdout_check.h"

namespace tensorpar::cli {
namespace {

const Command kCommands[] = {
    {"train", "train the reference Transformer with tensor parallelism (sim, or gloo/nccl processes)",
     kTrainUsage, run_train},
    {"redistribute", "run a DTensor redistribute (sim, or gloo processes) and explain it",
     kRedistributeUsage, run_redistribute},
    {"check", "gradient checks and the sharding-rule matrix of every op on the simulated backend",
     kCheckUsage, run_check},
    {"checkpoint", "what a sharded checkpoint holds (info); one safetensors file of it (consolidate)",
     kCheckpointUsage, run_checkpoint},
    {"plan", "predict the time, memory and communication of TP x DP plans on a cluster (cost model)",
     kPlanUsage, run_plan},
    {"calibrate", "measure this machine as the simulated backend sees it: a hardware profile",
     kCalibrateUsage, run_calibrate},
    {"run", "start the processes of a multi-process job (torchrun's role): one per rank",
     kRunUsage, run_run},
};

void print_usage(std::ostream& os) {
  os << "usage: tensorpar <command> [options]\n\ncommands:\n";
  for (const Command& c : kCommands) os << "  " << c.name << "  " << c.summary << "\n";
  os << "\nRun 'tensorpar <command> --help' for a command's options.\n";
}

// `code`, or 1 when the output did not reach standard output (a full disk, a closed pipe): a
// report that was never written is a failed run.
int checked_stdout(const std::string& who, int code) {
  const auto error = stdout_write_error();
  if (!error) return code;
  std::cerr << who << ": cannot write to standard output: " << *error << "\n";
  return code == 0 ? 1 : code;
}

int dispatch(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return checked_stdout("tensorpar", 0);
  }
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& a : args) {
      if (a == "--") break;  // what follows belongs to another program (tensorpar run)
      if (a == "--help" || a == "-h") {
        std::cout << c.usage;
        return checked_stdout(std::string("tensorpar ") + c.name, 0);
      }
    }
    int code = 0;
    try {
      code = c.run(args);
    } catch (const UsageError& e) {
      std::cerr << "tensorpar " << c.name << ": " << e.what() << "\n\n" << c.usage;
      code = 2;
    }
    return checked_stdout(std::string("tensorpar ") + c.name, code);
  }
  std::cerr << "tensorpar: unknown command '" << name << "'\n\n";
  print_usage(std::cerr);
  return 2;
}

}  // namespace
}  // namespace tensorpar::cli

int main(int argc, char** argv) {
  try {
#ifdef TENSORPAR_HAVE_GLOO
    tensorpar::gloo::register_gloo_backend();
#endif
#ifdef TENSORPAR_HAVE_NCCL
    tensorpar::cuda::register_nccl_backend();
#endif
    return tensorpar::cli::dispatch(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "tensorpar: " << e.what() << "\n";
    return tensorpar::cli::checked_stdout("tensorpar", 1);
  }
}
