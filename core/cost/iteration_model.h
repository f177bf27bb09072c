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
  kernels::OpRecord op;             // when !is_collective
  CollectiveRecord collective;      // when is_collective
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
  int dp = 1;                  // data-parallel degree (the DP group's ranks: dp_group below)
  std::vector<int> dp_group;   // global ranks of this rank's DP group (size dp)
  std::int64_t micro_batches = 1;  // gradient accumulation steps per iteration
  bool overlap_dp = true;
  std::int64_t bucket_bytes = 25ll << 20;
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
  double compute_s = 0;        // kernels of forward, recompute, backward (all micro-batches)
  double tp_comm_s = 0;        // exposed tensor-parallel collectives
  double dp_comm_s = 0;        // exposed data-parallel gradient all_reduce
  double optimizer_s = 0;
  double total_s() const { return compute_s + tp_comm_s + dp_comm_s + optimizer_s; }
  std::vector<CollectiveRecord> collectives;  // per step, in order (DP buckets included)
  std::vector<TimelineEvent> timeline;        // filled when asked
};

IterationEstimate estimate_iteration(const Workload& workload, const IterationOptions& options,
                                     const HardwareProfile& hardware, bool with_timeline = false);

}  // namespace tensorpar::cost
