#pragma once
// What `tensorpar train` reports after a run: the loss curve against the single-device
// reference, collectives per step and phase, and where the time went; as text or as JSON.
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/cli/json.h"
#include "tools/cli/train_run.h"

namespace tensorpar::cli {

struct TrainResult {
  TrainConfig config;
  std::vector<RankRun> ranks;
  std::vector<double> reference;  // loss per step; empty under --no-compare
  double wall_s = 0;              // the tensor-parallel training loop, all steps
  double reference_wall_s = 0;
  std::string trace_path;  // "" without --trace
};

// Time of one phase, mean per step over the ranks. `other` is what neither the op kernels nor
// the collectives account for: autograd bookkeeping, sharding decisions, wrapping DTensors.
struct PhaseSplit {
  double wall_s = 0, ops_s = 0, collectives_s = 0;
  double other_s() const;
};

// The step at which a run stopped on a loss that is not finite.
struct NonFiniteLoss {
  std::int64_t step = 0;  // 1-based, as printed: a resumed run's true number (RankRun::step_number)
  double loss = 0;
};

struct TrainSummary {
  double tolerance = 0;  // relative, see loss_tolerance
  // Over the steps both runs reached with finite losses, and the ranks; none without a
  // reference or without such a step.
  std::optional<double> max_abs_loss_diff;
  bool verified = false;  // false as well when a loss is not finite
  std::optional<NonFiniteLoss> train_non_finite, reference_non_finite;
  StepComm comm;             // rank 0's last step
  bool comm_uniform = true;  // every step and every rank issued the same
  std::map<CommPhase, PhaseSplit> time;
  std::vector<std::pair<std::string, double>> top_ops;  // name, share of the op time
  double tokens_per_s = 0;
};

// The verification tolerance on |loss - ref_loss|, relative to max(1, |ref_loss|): 1e-9 for
// float64, 1e-3 for float32. Rounding differences between the sharded and the single-device
// sums grow along a run (training amplifies them, dropout more so): in float32 with dropout 0.1,
// about 3e-5 at step 50 and 1e-3 at step 300; in float64 they stay near 1e-14.
double loss_tolerance(DType dtype);

// What the ranks are, for the report: "simulated rank(s)" or "gloo processes".
std::string ranks_noun(const TrainConfig& config);

// "loss is nan at step 2 (train) / inf (reference)", "loss is inf at step 7 (reference)"; ""
// when every loss is finite.
std::string non_finite_message(const TrainSummary& summary);

TrainSummary summarize(const TrainResult& result);
void print_summary(std::ostream& os, const TrainResult& result, const TrainSummary& summary);
Json summary_json(const TrainResult& result, const TrainSummary& summary);

}  // namespace tensorpar::cli
