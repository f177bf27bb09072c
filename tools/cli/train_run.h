#pragma once
// The training run behind `tensorpar train`: the synthetic task, the tensor-parallel run on the
// simulated backend (one rank thread per mesh rank) and the single-device reference on plain
// tensors, both from the same seed and the same batches.
//
// The task: next-token prediction on one fixed pattern of `pattern_length` tokens drawn from the
// vocabulary by the seed, repeated without end. Row r of step t's batch starts at a phase drawn
// from the seed for (t, r). A token may occur several times in the pattern with different
// successors, so the model has to use the context (attention), not only the current token.
//
//   pattern (vocab 64, length 12, seed 0):  17 3 41 3 58 ...
//   row with phase 2:   inputs  41 3 58 ...   targets  3 58 ...
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/nn/transformer.h"
#include "core/comm/profiler.h"
#include "core/ops/ops.h"

namespace tensorpar::cli {

struct TrainConfig {
  std::string backend = "sim";  // "sim": rank threads; "gloo": this process is one rank
  Device device = cpu();        // where every tensor of the run lives (--device)
  int world = 4;  // ranks in all
  // Data-parallel degree. 0: no data parallelism, the 1-D mesh "tp" over `world` ranks (no
  // --mesh). d >= 1 (--mesh dp=d,tp=t): the 2-D mesh ("dp", "tp") of shape [d, world / d]; the
  // model is parallelized over mesh["tp"], the batch split over mesh["dp"] (torch.chunk rows)
  // and the gradients averaged over it by DistributedDataParallel (styles/data_parallel.h).
  int dp = 0;
  std::int64_t layers = 2, dim = 64, heads = 4, vocab = 64, seq = 32, batch = 8;
  double dropout = 0.0;
  int steps = 50;
  std::string optimizer = "adam";  // "adam" or "sgd"
  double lr = 0.0;                 // 0: the optimizer's default for this command (default_lr)
  DType dtype = DType::Float32;
  std::uint64_t seed = 0;
  bool sequence_parallel = false;
  bool loss_parallel = false;
  bool compare = true;      // run the single-device reference
  bool keep_trace = false;  // keep every profiler event (for --trace)
  bool keep_weights = false;  // record the trained weights (RankRun::weights)
  // Checkpoints (train_checkpoint.h): --load resumes from a checkpoint folder (or starts from
  // the weights of a lone .safetensors file); --save writes one after the last step and, with
  // --save-every N, after every N steps.
  std::string load_path;
  std::string save_dir;
  int save_every = 0;
};

// The tensor- and data-parallel degrees: (world / max(dp, 1), max(dp, 1)).
int tp_degree(const TrainConfig& config);
int dp_degree(const TrainConfig& config);

// The learning rate used when --lr is not given: 1e-2 for Adam, 0.1 for SGD.
double default_lr(const std::string& optimizer);

// The model of the run (the reference Transformer; max_seq_len = seq, seed = the run's seed).
nn::ModelArgs model_args(const TrainConfig& config);

// The fixed pattern of the task and one step's batch ([batch, seq] inputs, [batch * seq]
// targets), identical for every rank and for the reference.
std::vector<std::int64_t> task_pattern(const TrainConfig& config);
struct Batch {
  Tensor inputs;
  Tensor targets;
};
Batch task_batch(const TrainConfig& config, const std::vector<std::int64_t>& pattern, int step);

// Wall time of one step of one rank, split by phase (forward includes the loss).
struct PhaseTimes {
  double forward_s = 0, backward_s = 0, optimizer_s = 0;
  double total() const { return forward_s + backward_s + optimizer_s; }
};

// Profiler totals of one rank over the whole run, per phase: self time of the op kernels and
// of the collectives, and self time per op name.
struct ProfileTotals {
  std::map<CommPhase, double> op_s, collective_s;
  std::map<std::string, double> op_s_by_name;
  void add(const std::vector<profiler::Event>& events);
};

// Collectives of one step of one rank, per phase: count per name, and bytes; all of them, and
// the subset over the data-parallel group (the gradient buckets' all_reduces). The rest are the
// tensor-parallel ones. In a mesh of one rank (dp 1, tp 1) both groups are that rank; its
// collectives then count as tensor-parallel.
struct StepComm {
  std::map<CommPhase, std::map<std::string, std::int64_t>> counts;
  std::map<CommPhase, std::int64_t> bytes;
  std::map<CommPhase, std::map<std::string, std::int64_t>> dp_counts;
  std::map<CommPhase, std::int64_t> dp_bytes;
  bool operator==(const StepComm&) const = default;
};

struct RankRun {
  // The steps trained before this run: the step a --load resumed at (resume_training), else 0.
  // Step i of this run (0-based, as the vectors below) is step first_step + i + 1 as the report,
  // the progress line and the trace number it: a run resumed after step 10 reports 11, 12, ...
  std::int64_t first_step = 0;
  std::vector<double> losses;     // one per step
  std::vector<PhaseTimes> times;  // one per step
  std::vector<StepComm> comm;     // one per step
  ProfileTotals profile;
  std::vector<profiler::Event> events;  // every event of the run, when config.keep_trace
  std::int64_t run_start_ns = 0;        // the profiler clock when the first step began
  // Start of each step's phases on the profiler clock: {forward, backward, optimizer, end}.
  std::vector<std::array<std::int64_t, 4>> phase_marks;
  // With config.keep_weights: every parameter's whole value after the last step, by FQN.
  std::vector<std::pair<std::string, Tensor>> weights;
  // The number step i of this run is reported by (1-based, counting the steps before a --load).
  std::int64_t step_number(std::size_t i) const {
    return first_step + static_cast<std::int64_t>(i) + 1;
  }
};

// Called on rank 0's thread after each step with the step's index in this run (0-based, not
// counting the steps before a --load: RankRun::first_step) and its loss.
using StepCallback = std::function<void(int step, double loss)>;

// Both runs stop after the first step whose loss is not finite (nan or inf), so their losses
// may end before config.steps. Every rank of the tensor-parallel run takes that decision
// together (an all_reduce of a flag after each step, outside the step's recorded collectives
// and profile): a non-finite loss on one rank stops all of them after the same step.

// One rank's part of the tensor-parallel run, on the calling thread's current world (a sim rank
// thread, or a process of a job): the model parallelized over a 1-D mesh of config.world ranks,
// or with config.dp over the "tp" dim of a 2-D mesh (see TrainConfig::dp). Each data-parallel
// rank's mean loss over its rows is scaled by data_parallel_batch's loss_scale before backward,
// so that the averaged gradient is the global mean's; the loss it reports is the global batch's
// (the rows-weighted sum over the dp group, one all_reduce outside the step's collectives).
RankRun train_rank(const TrainConfig& config, int rank, const StepCallback& on_step);

// The tensor-parallel run: config.world rank threads, the model parallelized over a 1-D mesh.
// Returns every rank's record in rank order; throws what a rank threw.
std::vector<RankRun> run_tensor_parallel(const TrainConfig& config, const StepCallback& on_step);

// The single-device reference on this thread with plain tensors: the loss of every step, and
// with `weights` the trained parameters by FQN. With --load it resumes from the same checkpoint,
// so its step i is the tensor-parallel run's step i (RankRun::first_step + i + 1 as reported).
std::vector<double> run_reference(const TrainConfig& config, const StepCallback& on_step,
                                  std::vector<std::pair<std::string, Tensor>>* weights = nullptr);

}  // namespace tensorpar::cli
