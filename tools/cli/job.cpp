#include "tools/cli/job.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>

#include "core/base/error.h"
#include "core/comm/process_env.h"
#include "core/ops/ops.h"

namespace tensorpar::cli {

std::vector<std::string> cli_backends() {
  std::vector<std::string> names = {"sim"};
#ifdef TENSORPAR_HAVE_GLOO
  names.push_back("gloo");
#endif
#ifdef TENSORPAR_HAVE_NCCL
  names.push_back("nccl");
#endif
  return names;
}

std::string backend_flag(const Args& args) {
  const std::string name = args.get_or("backend", "sim");
  const auto known = cli_backends();
  if (std::find(known.begin(), known.end(), name) != known.end()) return name;
  if (name == "nccl") {
    throw std::runtime_error(
        "--backend nccl: this tensorpar was built without NCCL (CMake found no CUDA toolkit or no "
        "nccl.h and libnccl; point NCCL_ROOT at them and configure again, see docs/nccl.md)");
  }
  std::string list;
  for (const auto& b : known) list += (list.empty() ? "" : ", ") + b;
  throw UsageError("--backend must be one of " + list + " in this build, got '" + name + "'");
}

std::chrono::milliseconds job_timeout() {
  const std::optional<std::string> text = system_env("TENSORPAR_TIMEOUT_MS");
  if (!text) return std::chrono::milliseconds(300000);
  std::size_t used = 0;
  long long ms = -1;
  try {
    ms = std::stoll(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text->size() || ms <= 0) {
    throw UsageError("TENSORPAR_TIMEOUT_MS='" + *text + "' is not a positive integer");
  }
  return std::chrono::milliseconds(ms);
}

ProcessEnv launched_env(const std::string& backend, const std::string& what, int expected_world) {
  if (!system_env("RANK") && !system_env("SLURM_PROCID") && !system_env("OMPI_COMM_WORLD_RANK")) {
    throw UsageError("--backend " + backend + " runs one rank per process: start " + what +
                     " under a launcher, e.g. 'tensorpar run --nproc-per-node 4 -- tensorpar " +
                     what + " --backend " + backend + "' (or torchrun); RANK and WORLD_SIZE "
                     "are not set");
  }
  ProcessEnv env;
  try {
    env = read_process_env();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (expected_world > 0 && expected_world != env.world_size) {
    throw UsageError("--world " + std::to_string(expected_world) + " differs from WORLD_SIZE=" +
                     std::to_string(env.world_size) + " (under a launcher the world is the job's)");
  }
  return env;
}

std::unique_ptr<ProcessWorld> join_job(const std::string& backend) {
  const std::chrono::milliseconds timeout = job_timeout();
  return std::make_unique<ProcessWorld>(
      backend, ProcessWorldOptions{.store_timeout = timeout, .collective_timeout = timeout});
}

std::vector<std::vector<double>> all_gather_doubles(Communicator& comm,
                                                    const std::vector<double>& values) {
  const int size = comm.size();
  Tensor length = from_vector<double>({static_cast<double>(values.size())}, {1});
  Tensor lengths = zeros({size}, DType::Float64);
  comm.all_gather(lengths, length)->wait();
  const std::vector<double> n = to_vector<double>(lengths);
  const auto longest = static_cast<std::int64_t>(*std::max_element(n.begin(), n.end()));
  std::vector<double> padded = values;
  padded.resize(static_cast<std::size_t>(longest), 0.0);
  Tensor all = zeros({size * longest}, DType::Float64);
  if (longest > 0) comm.all_gather(all, from_vector<double>(padded, {longest}))->wait();
  const std::vector<double> flat = longest > 0 ? to_vector<double>(all) : std::vector<double>{};
  std::vector<std::vector<double>> out(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) {
    const auto begin = flat.begin() + r * longest;
    out[static_cast<std::size_t>(r)].assign(begin, begin + static_cast<std::int64_t>(n[r]));
  }
  return out;
}

}  // namespace tensorpar::cli
