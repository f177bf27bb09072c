#pragma once
// Time of one training iteration of one rank from its workload (what one micro-batch runs, read
// off a shape-only run) on a hardware profile.
//
//   iteration = micro_batches x (forward + recompute + backward)      kernels and TP collectives,
//                                                                     back to back (not overlapped)
//             + exposed DP gradient all_reduce                        buckets of 25 MiB
//             + optimizer step                                        its kernels
//
// With overlap, a bucket's all_reduce starts when its gradients are ready in the last
// micro-batch's backward and runs beside the remaining backward; only what outlasts the backward
// is exposed. Without, every bucket runs after the backward.
//
// Buckets: gradients in reverse registration order (the order backward makes them ready), a
// bucket closed once it holds >= bucket_bytes; one all_reduce per bucket over dp_group. A bucket
// is ready when the share of the last micro-batch's recompute + backward time that has elapsed
// equals the share of the gradient bytes up to and including it (gradients are taken to become
// ready at a steady rate in bytes; the last bucket is ready when the backward ends).
//
//   gradient_bytes {10 MiB, 20 MiB, 30 MiB}, 25 MiB buckets -> {30}, {20, 10}: bucket 0 ready
//   at 30/60 of the backward, bucket 1 at its end.
//
// Shared compute (DeviceProfile::shared_compute_units = n > 0, the sim: ranks are threads on n
// cores): with W = world_size ranks and W > n, every kernel takes W / n times its time.
// Collectives are timed by collective_time over group_shape(group, gpus_per_node).
#include <cstdint>
#include <string>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "core/cost/hardware.h"
#include "core/cost/memory_model.h"
#include "core/kernels/meta/op_record.h"

namespace tensorpar::cost {

// One kernel or one collective, in issue order.
struct WorkItem {
  bool is_collective = false;
  kernels::OpRecord op;         // when !is_collective
  CollectiveRecord collective;  // when is_collective
};

// What one rank does for one micro-batch, by phase, and once per step.
struct Workload {
  std::vector<WorkItem> forward;    // forward and loss
  std::vector<WorkItem> recompute;  // what backward re-runs of the forward (none: empty)
  std::vector<WorkItem> backward;
  std::vector<WorkItem> optimizer;  // once per step
  // Local gradient bytes of each parameter in registration order (the DP all_reduce's payload).
  std::vector<std::int64_t> gradient_bytes;
};

struct IterationOptions {
  int dp = 1;                      // data-parallel degree (the DP group's ranks: dp_group below)
  std::vector<int> dp_group;       // global ranks of this rank's DP group (size dp)
  std::int64_t micro_batches = 1;  // gradient accumulation steps per iteration
  bool overlap_dp = true;
  std::int64_t bucket_bytes = 25ll << 20;
  // Ranks of the job (W of shared_compute_units); 0: dp x the largest group of the workload.
  int world_size = 0;
};

// A span of the predicted timeline (for a Chrome trace): kernel, collective, or phase.
struct TimelineEvent {
  std::string name;      // kernel or collective name, or "forward", "micro-batch 0"
  std::string category;  // "op", "collective", "phase", "step"
  std::string phase;     // "forward", "backward", "optimizer"
  double start_s = 0, duration_s = 0;
  std::int64_t bytes = 0;  // collectives
  int lane = 0;            // 0: compute stream; 1: the DP communication stream
};

struct IterationEstimate {
  double compute_s = 0;  // kernels of forward, recompute, backward (all micro-batches)
  double tp_comm_s = 0;  // exposed tensor-parallel collectives
  double dp_comm_s = 0;  // exposed data-parallel gradient all_reduce
  double optimizer_s = 0;
  double total_s() const { return compute_s + tp_comm_s + dp_comm_s + optimizer_s; }
  // Collectives per step by (phase, kind, group size, data-parallel or not), in order of first
  // issue: micro_batches x the workload's, the DP buckets (phase backward), the optimizer's.
  struct CollectiveTotal {
    CommPhase phase = CommPhase::Forward;
    CollectiveKind kind = CollectiveKind::AllReduce;
    int group_size = 1;
    bool data_parallel = false;
    std::int64_t count = 0;
    std::int64_t bytes = 0;
  };
  std::vector<CollectiveTotal> collective_totals;
  std::vector<std::int64_t> dp_buckets;  // bytes of each DP bucket, in issue order
  // Filled when asked (with_timeline): every collective of the step in order, and the timeline.
  std::vector<CollectiveRecord> collectives;  // per step, in order (DP buckets included)
  std::vector<TimelineEvent> timeline;
};

// The DP buckets of `gradient_bytes` (registration order) as described above: bytes per bucket
// in issue order.
std::vector<std::int64_t> dp_buckets(const std::vector<std::int64_t>& gradient_bytes,
                                     std::int64_t bucket_bytes);

IterationEstimate estimate_iteration(const Workload& workload, const IterationOptions& options,
                                     const HardwareProfile& hardware, bool with_timeline = false);

}  // namespace tensorpar::cost
