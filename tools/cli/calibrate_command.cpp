// `tensorpar calibrate`: measures this machine as the simulated backend's ranks see it and writes
// a hardware profile in the built-in profiles' format (tools/calibrate/calibrate.h), for
// `tensorpar plan --hardware FILE`.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "core/cost/hardware.h"
#include "tools/calibrate/calibrate.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace tensorpar::cli {

const char* const kCalibrateUsage =
    "usage: tensorpar calibrate [--out FILE] [--quick]\n\n"
    "Measures this machine as the simulated backend's rank threads see it: the float32 GEMM rate\n"
    "by size (linear, forward and backward), the element-wise kernels' rate by size, the fixed\n"
    "cost per kernel call of the training path, the number of hardware threads, and the sim's\n"
    "all_reduce, all_gather and reduce_scatter by world size (1 to 4) and bytes. Writes the\n"
    "hardware profile as JSON to FILE (or stdout) and what it measured to stderr; about 10 s.\n"
    "  --quick   fewer sizes and samples: a few seconds, coarser\n"
    "Then: tensorpar plan --hardware FILE --gpus 2 --tp 2 ... predicts the sim's step time.\n";

int run_calibrate(const std::vector<std::string>& argv) {
  const Args args(argv, {"out"}, {"quick"});
  const std::string out_path = args.get_or("out", "");
  if (args.has("out") && out_path.empty()) throw UsageError("--out needs a file name");
  // Opened before measuring, so that a path it cannot write is refused at once.
  std::unique_ptr<std::ofstream> file;
  if (!out_path.empty()) {
    file = std::make_unique<std::ofstream>(out_path);
    if (!*file) {
      throw UsageError("--out " + out_path +
                       ": cannot open it for writing: " + std::strerror(errno));
    }
  }
  const cost::HardwareProfile profile =
      calibrate::calibrate_this_machine({.quick = args.has("quick")}, std::cerr);
  const std::string json = cost::hardware_to_json(profile);
  if (!file) {
    std::cout << json << (json.ends_with('\n') ? "" : "\n");
    return 0;
  }
  *file << json << (json.ends_with('\n') ? "" : "\n");
  file->close();
  if (!*file) {
    std::cerr << "tensorpar calibrate: cannot write " << out_path << ": " << std::strerror(errno)
              << "\n";
    return 1;
  }
  std::cerr << "wrote " << out_path << "\n";
  return 0;
}

}  // namespace tensorpar::cli
