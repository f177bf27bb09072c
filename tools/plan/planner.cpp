#include "tools/plan/planner.h"

#include <algorithm>
#include <stdexcept>

#include "core/base/error.h"
#include "tools/plan/workload.h"

namespace tensorpar::plan {

namespace {

using cost::Recompute;

[[noreturn]] void usage(const std::string& message) { throw std::invalid_argument(message); }

std::vector<std::int64_t> divisors(std::int64_t n) {
  std::vector<std::int64_t> out;
  for (std::int64_t d = 1; d <= n; ++d) {
    if (n % d == 0) out.push_back(d);
  }
  return out;
}

void check_query(const PlanQuery& q) {
  const cost::ModelShape& m = q.model;
  if (q.gpus < 1) usage(cat("--gpus must be >= 1, got ", q.gpus));
  if (q.gpus_per_node < 1) usage(cat("--gpus-per-node must be >= 1, got ", q.gpus_per_node));
  if (m.layers < 1) usage(cat("--layers must be >= 1, got ", m.layers));
  if (m.hidden < 1) usage(cat("--dim must be >= 1, got ", m.hidden));
  if (m.heads < 1) usage(cat("--heads must be >= 1, got ", m.heads));
  if (m.hidden % m.heads != 0) usage(cat("--heads ", m.heads, " does not divide --dim ", m.hidden));
  if (m.seq < 1) usage(cat("--seq must be >= 1, got ", m.seq));
  if (m.vocab < 1) usage(cat("--vocab must be >= 1, got ", m.vocab));
  if (q.global_batch < 1) usage(cat("--global-batch must be >= 1, got ", q.global_batch));
  if (q.tp) {
    const int t = *q.tp;
    if (t < 1) usage(cat("--tp must be >= 1, got ", t));
    if (m.heads % t != 0) usage(cat("--tp ", t, " does not divide --heads ", m.heads));
    if (q.gpus % t != 0) usage(cat("--tp ", t, " does not divide --gpus ", q.gpus));
  }
  if (q.dp) {
    const int d = *q.dp;
    if (d < 1) usage(cat("--dp must be >= 1, got ", d));
    if (q.gpus % d != 0) usage(cat("--dp ", d, " does not divide --gpus ", q.gpus));
    if (q.tp && *q.tp * d != q.gpus) {
      usage(cat("--gpus ", q.gpus, " is not --tp ", *q.tp, " x --dp ", d));
    }
    if (q.global_batch % d != 0) {
      usage(cat("--dp ", d, " does not divide --global-batch ", q.global_batch));
    }
    if (!q.tp && m.heads % (q.gpus / d) != 0) {
      usage(cat("--dp ", d, " leaves tp = --gpus ", q.gpus, " / ", d, " = ", q.gpus / d,
                ", which does not divide --heads ", m.heads));
    }
  }
  if (q.micro_batch) {
    const std::int64_t b = *q.micro_batch;
    if (b < 1) usage(cat("--micro-batch must be >= 1, got ", b));
    if (q.dp && (q.global_batch / *q.dp) % b != 0) {
      usage(cat("--micro-batch ", b, " does not divide the batch per replica (--global-batch ",
                q.global_batch, " / --dp ", *q.dp, " = ", q.global_batch / *q.dp, ")"));
    }
    if (q.global_batch % b != 0) {
      usage(cat("--micro-batch ", b, " does not divide --global-batch ", q.global_batch));
    }
  }
  if (q.sequence_parallel.value_or(false) && q.tp) {
    if (*q.tp == 1) usage("--sequence-parallel needs --tp > 1");
    if (m.seq % *q.tp != 0)
      usage(cat("--sequence-parallel needs --tp ", *q.tp, " to divide --seq ", m.seq));
  }
}

// Every configuration of the query that divides evenly (the header's rule).
std::vector<cost::ParallelConfig> configurations(const PlanQuery& q) {
  const cost::ModelShape& m = q.model;
  std::vector<cost::ParallelConfig> out;
  const DType dtype = q.dtype == DType::Float32 ? DType::Float32 : DType::BFloat16;
  for (std::int64_t tp : divisors(q.gpus)) {
    if (q.tp && tp != *q.tp) continue;
    if (m.heads % tp != 0 || m.hidden % tp != 0) continue;
    const std::int64_t dp = q.gpus / tp;
    if (q.dp && dp != *q.dp) continue;
    if (q.global_batch % dp != 0) continue;
    for (std::int64_t mb : divisors(q.global_batch / dp)) {
      if (q.micro_batch && mb != *q.micro_batch) continue;
      for (bool sp : {false, true}) {
        if (q.sequence_parallel && sp != *q.sequence_parallel) continue;
        if (sp && (tp == 1 || m.seq % tp != 0)) continue;
        for (Recompute r : {Recompute::None, Recompute::Selective, Recompute::Full}) {
          if (q.recompute && r != *q.recompute) continue;
          out.push_back({int(tp), int(dp), mb, sp, r, dtype, q.gradient_element_bytes});
        }
      }
    }
  }
  return out;
}

std::vector<int> dp_group(int tp, int dp) {
  std::vector<int> g(static_cast<std::size_t>(dp));
  for (int i = 0; i < dp; ++i) g[std::size_t(i)] = i * tp;
  return g;
}

cost::HardwareProfile with_nodes(const PlanQuery& q) {
  cost::HardwareProfile hardware = q.hardware;
  hardware.node.gpus_per_node = q.gpus_per_node;
  return hardware;
}

PlanResult evaluate(const PlanQuery& query, const cost::HardwareProfile& hardware,
                    WorkloadFactory& factory, const cost::ParallelConfig& c, bool with_timeline) {
  PlanResult r;
  r.config = c;
  r.micro_batches = query.global_batch / c.dp / c.micro_batch;
  PlanWorkload w = factory.build({.tp = c.tp,
                                  .micro_batch = c.micro_batch,
                                  .sequence_parallel = c.sequence_parallel,
                                  .dtype = c.dtype,
                                  .recompute = c.recompute,
                                  .loss_parallel = query.loss_parallel});
  if (c.gradient_element_bytes > 0) {
    const auto element = std::int64_t(dtype_size(c.dtype));
    for (std::int64_t& g : w.workload.gradient_bytes) g = g / element * c.gradient_element_bytes;
  }
  cost::IterationOptions options;
  options.dp = c.dp;
  options.dp_group = dp_group(c.tp, c.dp);
  options.micro_batches = r.micro_batches;
  options.overlap_dp = query.overlap_dp;
  options.world_size = query.gpus;
  r.time = cost::estimate_iteration(w.workload, options, hardware, with_timeline);
  r.memory = cost::memory_per_gpu(query.model, c);
  r.shape_only_peak_bytes = w.peak_bytes;
  r.fits = r.memory.total() <= hardware.device.memory_bytes;
  r.model_flops = model_flops(query.model, query.global_batch);
  r.mfu =
      r.model_flops / (r.iteration_s() * query.gpus * hardware.device.peak_flops_per_s(c.dtype));
  return r;
}

}  // namespace

double model_flops(const cost::ModelShape& m, std::int64_t global_batch) {
  const double b = double(global_batch), s = double(m.seq), l = double(m.layers),
               h = double(m.hidden), v = double(m.vocab);
  return 72 * b * s * l * h * h * (1 + s / (6 * h)) + 6 * b * s * h * v;
}

std::vector<PlanResult> plan(const PlanQuery& query) {
  check_query(query);
  const std::vector<cost::ParallelConfig> configs = configurations(query);
  if (configs.empty()) {
    usage(cat("no plan divides evenly: tp must divide --heads ", query.model.heads, " and --gpus ",
              query.gpus, ", dp = gpus / tp --global-batch ", query.global_batch,
              ", --micro-batch the batch per replica, and --sequence-parallel needs tp > 1 "
              "dividing --seq ",
              query.model.seq));
  }
  const cost::HardwareProfile hardware = with_nodes(query);
  WorkloadFactory factory(query.model, query.dropout);
  std::vector<PlanResult> results;
  results.reserve(configs.size());
  for (const cost::ParallelConfig& c : configs) {
    results.push_back(evaluate(query, hardware, factory, c, false));
  }
  std::stable_sort(results.begin(), results.end(), [](const PlanResult& a, const PlanResult& b) {
    if (a.fits != b.fits) return a.fits;
    return a.iteration_s() < b.iteration_s();
  });
  return results;
}

cost::IterationEstimate plan_timeline(const PlanQuery& query, const cost::ParallelConfig& config) {
  check_query(query);
  WorkloadFactory factory(query.model, query.dropout);
  return evaluate(query, with_nodes(query), factory, config, true).time;
}

}  // namespace tensorpar::plan
