#include "tools/cli/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tools/cli/args.h"

namespace tensorpar::cli {

namespace {

void sort_parts(MemoryEstimate& e) {
  std::sort(e.parts.begin(), e.parts.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  e.bytes = 0;
  for (const auto& [what, bytes] : e.parts) e.bytes += bytes;
}

}  // namespace

std::string bytes_text(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) {
    bytes /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[u]);
  return buf;
}

double machine_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return static_cast<double>(pages) * static_cast<double>(page);
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  double kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return 0;
}

MemoryEstimate train_memory(const TrainConfig& c, int ranks_here) {
  const auto s = static_cast<double>(dtype_size(c.dtype));
  const auto B = static_cast<double>(c.batch), S = static_cast<double>(c.seq),
             D = static_cast<double>(c.dim), H = static_cast<double>(c.heads),
             V = static_cast<double>(c.vocab), L = static_cast<double>(c.layers);
  // Per layer: wq, wk, wv, wo (4 D^2), w1 and w2 with biases (8 D^2 + 5 D), two LayerNorms (4 D);
  // the tied token embedding, the position embedding and the final LayerNorm.
  const double params = L * (12 * D * D + 9 * D) + V * D + S * D + 2 * D;
  const double state_copies = 2 + (c.optimizer == "adam" ? 2 : 0);  // weights, grads, moments
  MemoryEstimate e;
  e.parts.emplace_back("parameters, gradients and " + c.optimizer + " state",
                       params * state_copies * s);
  e.parts.emplace_back("attention probabilities (layers x batch x heads x seq^2)",
                       L * B * H * S * S * s);
  e.parts.emplace_back("other activations (layers x batch x seq x 8 dim)", L * B * S * 8 * D * s);
  e.parts.emplace_back("logits and their softmax (batch x seq x vocab, twice)", 2 * B * S * V * s);
  e.parts.emplace_back("input and target tokens (int64, on every rank)",
                       static_cast<double>(ranks_here) * 2 * B * S * 8);
  sort_parts(e);
  return e;
}

MemoryEstimate redistribute_memory(const Shape& shape, DType dtype, std::int64_t ranks_here) {
  double elements = 1;
  for (const std::int64_t extent : shape) elements *= static_cast<double>(extent);
  MemoryEstimate e;
  e.parts.emplace_back("the global tensor and its gathered copy on every rank",
                       2 * static_cast<double>(ranks_here) * elements *
                           static_cast<double>(dtype_size(dtype)));
  e.parts.emplace_back("the input's float64 staging on one rank", 8 * elements);
  sort_parts(e);
  return e;
}

void check_fits(const MemoryEstimate& e, double machine_bytes, const std::string& flags) {
  if (machine_bytes <= 0 || e.bytes <= machine_bytes) return;
  std::ostringstream os;
  os << flags << " needs at least " << bytes_text(e.bytes) << " of memory, more than this "
     << "machine's " << bytes_text(machine_bytes) << " (";
  for (std::size_t i = 0; i < e.parts.size() && i < 2; ++i) {
    os << (i ? "; " : "") << e.parts[i].first << ": " << bytes_text(e.parts[i].second);
  }
  os << "); choose smaller sizes";
  throw UsageError(os.str());
}

}  // namespace tensorpar::cli
