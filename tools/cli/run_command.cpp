// `tensorpar run`: the launcher (launcher.h) from the command line.
#include <set>
#include <string>

#include "core/base/error.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/launcher.h"

namespace tensorpar::cli {

const char* const kRunUsage =
    "usage: tensorpar run [options] [--] PROGRAM [ARGS...]\n"
    "\n"
    "Starts --nproc-per-node workers of PROGRAM with torchrun's environment (RANK, WORLD_SIZE,\n"
    "LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), hosts the store on\n"
    "node 0, prefixes each worker's output lines with [rankR]:, and stops every worker when one\n"
    "fails (SIGTERM, then SIGKILL after the grace period), printing which rank failed and how.\n"
    "\n"
    "options:\n"
    "  --nproc-per-node N   workers on this node (default 1)\n"
    "  --nnodes M           nodes in the job (default 1); run one launcher per node\n"
    "  --node-rank K        this node's index in [0, M) (default 0); node 0 hosts the store\n"
    "  --master-addr H      the store's address: node 0 listens there (default 127.0.0.1)\n"
    "  --master-port P      the store's port (default 29500; 0 = any free port, one node only)\n"
    "  --log-dir D          also write each rank's output to D/rank<R>.log\n"
    "  --grace-period S     seconds between SIGTERM and SIGKILL when stopping workers (default 5)\n"
    "  --store-timeout S    seconds the launchers wait for each other at the store (default 300)\n"
    "\n"
    "exit code: 0 when every worker exits 0; 1 when a worker fails (or a launcher error, or\n"
    "the workers' output cannot be written to stdout); 2 for a bad command line;\n"
    "128+N when the launcher is stopped by signal N (SIGINT, SIGTERM), which it forwards.\n"
    "\n"
    "example:\n"
    "  tensorpar run --nproc-per-node 4 -- ./my_tp_program --steps 10\n"
    "  tensorpar run --nnodes 2 --node-rank 1 --master-addr node0 --master-port 29500 -- ./prog\n";

namespace {

const std::set<std::string> kValued = {"nproc-per-node", "nnodes",     "node-rank",
                                       "master-addr",    "master-port", "log-dir",
                                       "grace-period",   "store-timeout"};

int int_option(const Args& args, const std::string& name, int fallback, int lo, int hi) {
  const auto text = args.get(name);
  if (!text) return fallback;
  std::size_t used = 0;
  long v = 0;
  try {
    v = std::stol(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text->size() || text->empty() || v < lo || v > hi) {
    throw UsageError(cat("--", name, " must be an integer in [", lo, ", ", hi, "], got '", *text,
                         "'"));
  }
  return static_cast<int>(v);
}

std::chrono::milliseconds seconds_option(const Args& args, const std::string& name,
                                         std::chrono::milliseconds fallback) {
  const auto text = args.get(name);
  if (!text) return fallback;
  std::size_t used = 0;
  double v = -1;
  try {
    v = std::stod(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text->size() || text->empty() || !(v >= 0) || v > 86400) {
    throw UsageError(cat("--", name, " must be a number of seconds in [0, 86400], got '", *text,
                         "'"));
  }
  return std::chrono::milliseconds(static_cast<long long>(v * 1000));
}

}  // namespace

int run_run(const std::vector<std::string>& argv) {
  // Options come first; the program starts after "--" or at the first non-option word.
  std::vector<std::string> options, command;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--") {
      command.assign(argv.begin() + static_cast<long>(i) + 1, argv.end());
      break;
    }
    if (argv[i].rfind("--", 0) != 0) {
      command.assign(argv.begin() + static_cast<long>(i), argv.end());
      break;
    }
    options.push_back(argv[i]);
    if (argv[i].find('=') == std::string::npos && kValued.count(argv[i].substr(2)) &&
        i + 1 < argv.size()) {
      options.push_back(argv[++i]);
    }
  }
  const Args args(options, kValued, {});
  if (command.empty()) throw UsageError("no program given");
  LaunchConfig c;
  c.nproc_per_node = int_option(args, "nproc-per-node", 1, 1, 4096);
  c.nnodes = int_option(args, "nnodes", 1, 1, 65536);
  c.node_rank = int_option(args, "node-rank", 0, 0, 65535);
  c.master_addr = args.get_or("master-addr", "127.0.0.1");
  c.master_port = static_cast<std::uint16_t>(int_option(args, "master-port", 29500, 0, 65535));
  c.log_dir = args.get("log-dir");
  c.grace_period = seconds_option(args, "grace-period", c.grace_period);
  c.store_timeout = seconds_option(args, "store-timeout", c.store_timeout);
  c.command = command;
  try {
    validate(c);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  return launch(c);
}

}  // namespace tensorpar::cli
