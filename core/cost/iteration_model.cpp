#include "core/cost/iteration_model.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "core/base/error.h"
#include "core/cost/collective_model.h"
#include "core/cost/kernel_model.h"

namespace tensorpar::cost {

namespace {

// Seconds of each item of a phase, and the phase's kernel and collective sums.
struct PhaseTimes {
  std::vector<double> seconds;
  double kernels = 0;
  double collectives = 0;
  double total() const { return kernels + collectives; }
};

class Timer {
 public:
  Timer(const HardwareProfile& hardware, double compute_slowdown)
      : hardware_(hardware), slowdown_(compute_slowdown) {}

  double kernel(const kernels::OpRecord& op) const {
    return kernel_time(op, hardware_).seconds * slowdown_;
  }
  double collective(CollectiveKind kind, std::int64_t bytes, const std::vector<int>& group) {
    auto it = shapes_.find(group);
    if (it == shapes_.end()) {
      it = shapes_.emplace(group, group_shape(group, hardware_.node.gpus_per_node)).first;
    }
    return collective_time(kind, bytes, it->second, hardware_).seconds;
  }
  PhaseTimes phase(const std::vector<WorkItem>& items) {
    PhaseTimes t;
    t.seconds.reserve(items.size());
    for (const WorkItem& item : items) {
      if (item.is_collective) {
        const auto& c = item.collective;
        t.seconds.push_back(collective(c.kind, c.bytes, c.group));
        t.collectives += t.seconds.back();
      } else {
        t.seconds.push_back(kernel(item.op));
        t.kernels += t.seconds.back();
      }
    }
    return t;
  }

 private:
  const HardwareProfile& hardware_;
  double slowdown_;
  std::map<std::vector<int>, GroupShape> shapes_;
};

int largest_group(const Workload& w) {
  int largest = 1;
  for (const auto* phase : {&w.forward, &w.recompute, &w.backward, &w.optimizer}) {
    for (const WorkItem& item : *phase) {
      if (item.is_collective) largest = std::max(largest, int(item.collective.group.size()));
    }
  }
  return largest;
}

// Adds `count` calls of `bytes` each to the totals, merging with an equal key.
void tally(std::vector<IterationEstimate::CollectiveTotal>& totals, CommPhase phase,
           CollectiveKind kind, int group_size, bool data_parallel, std::int64_t count,
           std::int64_t bytes) {
  for (auto& t : totals) {
    if (t.phase == phase && t.kind == kind && t.group_size == group_size &&
        t.data_parallel == data_parallel) {
      t.count += count;
      t.bytes += count * bytes;
      return;
    }
  }
  totals.push_back({phase, kind, group_size, data_parallel, count, count * bytes});
}

void tally_phase(std::vector<IterationEstimate::CollectiveTotal>& totals,
                 const std::vector<WorkItem>& items, std::int64_t times) {
  for (const WorkItem& item : items) {
    if (!item.is_collective) continue;
    const auto& c = item.collective;
    tally(totals, c.phase, c.kind, int(c.group.size()), false, times, c.bytes);
  }
}

std::string item_name(const WorkItem& item) {
  if (item.is_collective) return std::string(collective_name(item.collective.kind));
  return item.op.op.empty() ? item.op.kernel : item.op.kernel + " " + item.op.op;
}

// Appends a phase's items back to back from `start` on the compute lane, and its span.
double lay_out(std::vector<TimelineEvent>& out, const std::vector<WorkItem>& items,
               const PhaseTimes& times, const std::string& span, const std::string& phase,
               double start) {
  double t = start;
  const std::size_t span_index = out.size();
  out.push_back({span, "phase", phase, start, 0, 0, 0});
  for (std::size_t i = 0; i < items.size(); ++i) {
    const WorkItem& item = items[i];
    if (times.seconds[i] > 0) {
      out.push_back({item_name(item), item.is_collective ? "collective" : "op", phase, t,
                     times.seconds[i], item.is_collective ? item.collective.bytes : 0, 0});
    }
    t += times.seconds[i];
  }
  out[span_index].duration_s = t - start;
  return t;
}

void append_records(std::vector<CollectiveRecord>& out, const std::vector<WorkItem>& items) {
  for (const WorkItem& item : items) {
    if (item.is_collective) out.push_back(item.collective);
  }
}

}  // namespace

std::vector<std::int64_t> dp_buckets(const std::vector<std::int64_t>& gradient_bytes,
                                     std::int64_t bucket_bytes) {
  check_arg(bucket_bytes > 0, "dp_buckets: bucket_bytes must be > 0, got ", bucket_bytes);
  std::vector<std::int64_t> buckets;
  std::int64_t filling = 0;
  for (auto it = gradient_bytes.rbegin(); it != gradient_bytes.rend(); ++it) {
    filling += *it;
    if (filling >= bucket_bytes) {
      buckets.push_back(filling);
      filling = 0;
    }
  }
  if (filling > 0) buckets.push_back(filling);
  return buckets;
}

IterationEstimate estimate_iteration(const Workload& workload, const IterationOptions& options,
                                     const HardwareProfile& hardware, bool with_timeline) {
  check_arg(options.micro_batches >= 1, "estimate_iteration: micro_batches must be >= 1, got ",
            options.micro_batches);
  check_arg(options.dp >= 1, "estimate_iteration: dp must be >= 1, got ", options.dp);
  check_arg(options.dp == 1 || int(options.dp_group.size()) == options.dp,
            "estimate_iteration: dp_group has ", options.dp_group.size(), " ranks but dp is ",
            options.dp);
  const int world =
      options.world_size > 0 ? options.world_size : options.dp * largest_group(workload);
  const int units = hardware.device.shared_compute_units;
  const double slowdown = units > 0 && world > units ? double(world) / units : 1.0;
  Timer timer(hardware, slowdown);

  const PhaseTimes forward = timer.phase(workload.forward);
  const PhaseTimes recompute = timer.phase(workload.recompute);
  const PhaseTimes backward = timer.phase(workload.backward);
  const PhaseTimes optimizer = timer.phase(workload.optimizer);
  const auto m = static_cast<double>(options.micro_batches);

  IterationEstimate est;
  est.compute_s = m * (forward.kernels + recompute.kernels + backward.kernels);
  est.tp_comm_s = m * (forward.collectives + recompute.collectives + backward.collectives) +
                  optimizer.collectives;
  est.optimizer_s = optimizer.kernels;

  // The last micro-batch's backward (recompute included) spans [backward_start, backward_end].
  const double micro_batch_s = forward.total() + recompute.total() + backward.total();
  const double backward_start = (m - 1) * micro_batch_s + forward.total();
  const double backward_end = m * micro_batch_s;

  std::vector<double> bucket_start, bucket_s;
  if (options.dp > 1) {
    est.dp_buckets = dp_buckets(workload.gradient_bytes, options.bucket_bytes);
    std::int64_t total = 0;
    for (std::int64_t b : est.dp_buckets) total += b;
    std::int64_t ready_bytes = 0;
    double stream_free = options.overlap_dp ? 0.0 : backward_end;
    for (std::int64_t b : est.dp_buckets) {
      ready_bytes += b;
      const double ready = options.overlap_dp
                               ? backward_start + (backward_end - backward_start) *
                                                      double(ready_bytes) / double(total)
                               : backward_end;
      bucket_start.push_back(std::max(ready, stream_free));
      bucket_s.push_back(timer.collective(CollectiveKind::AllReduce, b, options.dp_group));
      stream_free = bucket_start.back() + bucket_s.back();
    }
    est.dp_comm_s = std::max(0.0, stream_free - backward_end);
  }

  tally_phase(est.collective_totals, workload.forward, options.micro_batches);
  tally_phase(est.collective_totals, workload.recompute, options.micro_batches);
  tally_phase(est.collective_totals, workload.backward, options.micro_batches);
  for (std::int64_t b : est.dp_buckets) {
    tally(est.collective_totals, CommPhase::Backward, CollectiveKind::AllReduce, options.dp, true,
          1, b);
  }
  tally_phase(est.collective_totals, workload.optimizer, 1);

  if (!with_timeline) return est;
  std::vector<TimelineEvent>& tl = est.timeline;
  tl.push_back({"iteration", "step", "", 0, est.total_s(), 0, 0});
  double t = 0;
  for (std::int64_t mb = 0; mb < options.micro_batches; ++mb) {
    const std::string label = "micro-batch " + std::to_string(mb) + " ";
    t = lay_out(tl, workload.forward, forward, label + "forward", "forward", t);
    if (!workload.recompute.empty()) {
      t = lay_out(tl, workload.recompute, recompute, label + "recompute", "backward", t);
    }
    t = lay_out(tl, workload.backward, backward, label + "backward", "backward", t);
    append_records(est.collectives, workload.forward);
    append_records(est.collectives, workload.recompute);
    append_records(est.collectives, workload.backward);
  }
  for (std::size_t b = 0; b < bucket_s.size(); ++b) {
    tl.push_back({"all_reduce", "collective", "backward", bucket_start[b], bucket_s[b],
                  est.dp_buckets[b], 1});
    est.collectives.push_back({CollectiveKind::AllReduce, est.dp_buckets[b], options.dp_group,
                               ReduceOp::Sum, CommPhase::Backward,
                               "dp bucket " + std::to_string(b)});
  }
  lay_out(tl, workload.optimizer, optimizer, "optimizer", "optimizer", t + est.dp_comm_s);
  append_records(est.collectives, workload.optimizer);
  return est;
}

}  // namespace tensorpar::cost
