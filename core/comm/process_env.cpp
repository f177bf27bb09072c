#include "core/comm/process_env.h"

#include <cstdlib>

#include "core/base/error.h"

namespace tensorpar {

std::optional<std::string> system_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

namespace {

// The variable names of one launcher family.
struct Family {
  const char* launcher;
  const char* rank;
  const char* world_size;
  const char* local_rank;
  const char* local_world_size;  // may hold Slurm's "4(x2),2" form
  const char* group_rank;        // nullptr: derived from rank / local_world_size
};

constexpr Family kFamilies[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE",
     "SLURM_NODEID"},
    {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE", nullptr},
};

long long parse_int(const std::string& name, const std::string& text, long long lo, long long hi) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check_arg(used == text.size() && !text.empty(), name, "='", text, "' is not an integer");
  check_arg(v >= lo && v <= hi, name, "=", v, " must be in [", lo, ", ", hi, "]");
  return v;
}

class Reader {
 public:
  explicit Reader(const EnvLookup& env) : env_(env) {}

  std::string required(const std::string& name, const char* why) const {
    auto v = env_(name);
    check_arg(v.has_value() && !v->empty(), name, " is not set (", why, ")");
    return *v;
  }
  std::optional<int> optional_int(const char* name, long long lo, long long hi) const {
    if (!name) return std::nullopt;
    auto v = env_(name);
    if (!v || v->empty()) return std::nullopt;
    return static_cast<int>(parse_int(name, leading_count(name, *v), lo, hi));
  }
  int required_int(const char* name, long long lo, long long hi, const char* why) const {
    return static_cast<int>(parse_int(name, required(name, why), lo, hi));
  }

 private:
  // Slurm writes tasks per node as "4(x2),2": the first count is this layout's local size
  // for the uniform case; other variables pass through unchanged.
  static std::string leading_count(const std::string& name, const std::string& text) {
    if (name.rfind("SLURM_", 0) != 0) return text;
    const auto end = text.find_first_of("(,");
    return text.substr(0, end);
  }

  const EnvLookup& env_;
};

constexpr long long kMaxRanks = 1 << 24;

}  // namespace

ProcessEnv read_process_env(const EnvLookup& env) {
  const Family* family = nullptr;
  for (const Family& f : kFamilies) {
    if (auto v = env(f.rank); v && !v->empty()) {
      family = &f;
      break;
    }
  }
  check_arg(family != nullptr,
            "RANK is not set: start the program with `tensorpar run`, torchrun, srun or mpirun, "
            "or set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (also read: SLURM_PROCID, "
            "OMPI_COMM_WORLD_RANK)");
  const Reader r(env);
  ProcessEnv p;
  p.launcher = family->launcher;
  const char* why = family->launcher;
  p.world_size = r.required_int(family->world_size, 1, kMaxRanks, why);
  p.rank = r.required_int(family->rank, 0, kMaxRanks, why);
  check_arg(p.rank < p.world_size, family->rank, "=", p.rank, " must be below ",
            family->world_size, "=", p.world_size);

  const auto local_size = r.optional_int(family->local_world_size, 1, kMaxRanks);
  const auto local_rank = r.optional_int(family->local_rank, 0, kMaxRanks);
  p.local_world_size = local_size.value_or(p.world_size);
  p.local_rank = local_rank.value_or(p.rank % p.local_world_size);
  check_arg(p.local_world_size <= p.world_size, family->local_world_size, "=",
            p.local_world_size, " must not exceed ", family->world_size, "=", p.world_size);
  check_arg(p.local_rank < p.local_world_size, family->local_rank, "=", p.local_rank,
            " must be below ", family->local_world_size, "=", p.local_world_size);
  const auto group = r.optional_int(family->group_rank, 0, kMaxRanks);
  p.group_rank = group.value_or(p.rank / p.local_world_size);
  const int nodes = (p.world_size + p.local_world_size - 1) / p.local_world_size;
  if (group) {
    const char* name = family->group_rank;
    check_arg(p.group_rank < nodes, name, "=", p.group_rank, " must be below the node count ",
              nodes, " (", family->world_size, "=", p.world_size, " / ",
              family->local_world_size, "=", p.local_world_size, ")");
  }

  const char* store_why = "the address of the store: export it, as torchrun does";
  p.master_addr = r.required("MASTER_ADDR", store_why);
  p.master_port = static_cast<std::uint16_t>(r.required_int("MASTER_PORT", 1, 65535, store_why));
  if (auto hosted = env(kStoreHostedEnv); hosted && !hosted->empty()) {
    check_arg(*hosted == "0" || *hosted == "1", kStoreHostedEnv, "='", *hosted,
              "' must be 0 or 1");
    p.store_hosted = *hosted == "1";
  }
  return p;
}

}  // namespace tensorpar
