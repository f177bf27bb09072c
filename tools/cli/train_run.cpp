#include "tools/cli/train_run.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <optional>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/comm/rank_context.h"
#include "core/dtensor/device_mesh.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/optim/sgd.h"
#include "core/tensor/philox.h"
#include "sim/world.h"
#include "styles/data_parallel.h"
#include "styles/loss_parallel.h"
#include "styles/transformer_plan.h"
#include "tools/cli/train_checkpoint.h"

namespace tensorpar::cli {

namespace {

constexpr std::int64_t kPatternLength = 12;  // six tokens, each occurring twice
// The data stream is separate from the model's and dropout's streams of the same seed.
constexpr std::uint64_t kDataStream = 0x7461736b;  // "task"

std::uint64_t data_seed(const TrainConfig& c) { return c.seed ^ (kDataStream << 32); }

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params) {
  const double lr = c.lr > 0 ? c.lr : default_lr(c.optimizer);
  if (c.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = lr});
  }
  return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = lr});
}

// The mean next-token loss of a batch. With loss parallel the logits stay sharded on the vocab
// dim and cross_entropy runs under loss_parallel(); otherwise they are a replicated plain tensor.
Tensor batch_loss(nn::Transformer& model, const Batch& batch, const TrainConfig& c) {
  Tensor logits = model(batch.inputs);
  logits = reshape(logits, {batch.inputs.size(0) * c.seq, c.vocab});
  if (!c.loss_parallel) return cross_entropy(logits, batch.targets);
  const LossParallel scope = loss_parallel();
  return cross_entropy(logits, batch.targets);
}

// The loss as a number on this rank (a DTensor loss is read through its full value).
double loss_value(const Tensor& loss) {
  NoGradGuard no_grad;
  if (!loss.is_distributed()) return loss.item();
  return DTensor(loss).full_tensor().item();
}

// Whether every rank's loss of this step is finite: one all_reduce (max) of a flag over the
// world, so that a non-finite loss on any rank stops every rank after the same step.
bool all_ranks_finite(double loss) {
  Tensor flag = from_vector<double>({std::isfinite(loss) ? 0.0 : 1.0}, {1});
  current_world().all_reduce(flag, {.op = ReduceOp::Max})->wait();
  return flag.item() == 0.0;
}

// The global batch's loss from this data-parallel rank's: sum over the group of
// rows_k / batch * loss_k (one all_reduce, outside the step's recorded collectives).
double global_loss(const DeviceMesh& dp_mesh, const DataParallelBatch& rows, std::int64_t batch,
                   double local_loss) {
  Tensor share = from_vector<double>(
      {local_loss * static_cast<double>(rows.rows) / static_cast<double>(batch)}, {1});
  dp_mesh.group(0).all_reduce(share)->wait();
  return share.item();
}

StepComm step_comm(const std::vector<CollectiveRecord>& records,
                   const std::vector<int>& dp_group, const std::vector<int>& tp_group) {
  StepComm out;
  for (const CollectiveRecord& r : records) {
    const std::string name(collective_name(r.kind));
    ++out.counts[r.phase][name];
    out.bytes[r.phase] += r.bytes;
    if (r.group == dp_group && r.group != tp_group) {
      ++out.dp_counts[r.phase][name];
      out.dp_bytes[r.phase] += r.bytes;
    }
  }
  return out;
}

// Every parameter's whole value, by FQN (collective over the parameters' meshes).
std::vector<std::pair<std::string, Tensor>> whole_weights(const nn::Module& model) {
  const NoGradGuard no_grad;
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, p] : model.named_parameters()) {
    out.emplace_back(name, p.is_distributed() ? DTensor(p).full_tensor() : p.clone());
  }
  return out;
}

}  // namespace

int tp_degree(const TrainConfig& c) { return c.world / dp_degree(c); }
int dp_degree(const TrainConfig& c) { return std::max(1, c.dp); }

double default_lr(const std::string& optimizer) { return optimizer == "sgd" ? 0.1 : 1e-2; }

nn::ModelArgs model_args(const TrainConfig& c) {
  nn::ModelArgs args;
  args.n_layers = c.layers;
  args.vocab_size = c.vocab;
  args.max_seq_len = c.seq;
  args.dim = c.dim;
  args.n_heads = c.heads;
  args.dropout_p = c.dropout;
  args.use_attn_mask = true;
  args.weight_tying = true;
  args.seed = c.seed;
  args.dtype = c.dtype;
  return args;
}

std::vector<std::int64_t> task_pattern(const TrainConfig& c) {
  const std::uint64_t seed = data_seed(c);
  std::uint64_t counter = 0;
  auto draw = [&](std::int64_t n) {
    return std::min<std::int64_t>(
        n - 1, static_cast<std::int64_t>(uniform_double_at(seed, counter++) * n));
  };
  const std::int64_t distinct = std::min<std::int64_t>(kPatternLength / 2, c.vocab);
  std::vector<std::int64_t> tokens;
  while (static_cast<std::int64_t>(tokens.size()) < distinct) {
    const std::int64_t t = draw(c.vocab);
    if (std::find(tokens.begin(), tokens.end(), t) == tokens.end()) tokens.push_back(t);
  }
  std::vector<std::int64_t> pattern;
  for (int copy = 0; copy < 2; ++copy) pattern.insert(pattern.end(), tokens.begin(), tokens.end());
  for (std::int64_t i = static_cast<std::int64_t>(pattern.size()) - 1; i > 0; --i) {
    std::swap(pattern[i], pattern[draw(i + 1)]);
  }
  return pattern;
}

Batch task_batch(const TrainConfig& c, const std::vector<std::int64_t>& pattern, int step) {
  const auto period = static_cast<std::int64_t>(pattern.size());
  const std::uint64_t seed = data_seed(c);
  std::vector<std::int64_t> in, out;
  in.reserve(c.batch * c.seq);
  out.reserve(c.batch * c.seq);
  for (std::int64_t r = 0; r < c.batch; ++r) {
    const std::uint64_t counter = (1ULL << 32) + static_cast<std::uint64_t>(step * c.batch + r);
    const auto phase = static_cast<std::int64_t>(uniform_double_at(seed, counter) * period);
    for (std::int64_t j = 0; j < c.seq; ++j) {
      in.push_back(pattern[(phase + j) % period]);
      out.push_back(pattern[(phase + j + 1) % period]);
    }
  }
  return {from_vector<std::int64_t>(in, {c.batch, c.seq}),
          from_vector<std::int64_t>(out, {c.batch * c.seq})};
}

void ProfileTotals::add(const std::vector<profiler::Event>& events) {
  for (const profiler::Event& e : events) {
    const double s = static_cast<double>(e.self_ns) * 1e-9;
    if (e.category == profiler::Category::Op) {
      op_s[e.phase] += s;
      op_s_by_name[e.name] += s;
    } else {
      collective_s[e.phase] += s;
    }
  }
}

RankRun train_rank(const TrainConfig& c, int rank, const StepCallback& on_step) {
  const std::vector<std::int64_t> pattern = task_pattern(c);
  manual_seed(c.seed);
  nn::Transformer model(model_args(c));
  const bool data_parallel = c.dp > 0;
  const DeviceMesh mesh = data_parallel ? DeviceMesh({dp_degree(c), tp_degree(c)}, {"dp", "tp"})
                                        : DeviceMesh({c.world}, {"tp"});
  const DeviceMesh tp_mesh = data_parallel ? mesh["tp"] : mesh;
  parallelize_transformer(model, tp_mesh,
                          {.sequence_parallel = c.sequence_parallel,
                           .local_output_for_attn = false,
                           .loss_parallel = c.loss_parallel});
  std::optional<DistributedDataParallel> ddp;
  DataParallelBatch rows{.start = 0, .rows = c.batch, .loss_scale = 1.0};
  if (data_parallel) {
    ddp.emplace(model, mesh["dp"]);
    rows = data_parallel_batch(c.batch, ddp->mesh());
  }
  const std::vector<int> dp_group = data_parallel ? ddp->mesh().ranks() : std::vector<int>{};
  const std::vector<int> tp_group = tp_mesh.ranks();
  auto opt = make_optimizer(c, model.parameters());
  const std::int64_t first_step = resume_training(c, model, *opt);

  RankRun run;
  run.first_step = first_step;
  profiler::ProfileRecorder recorder;
  const profiler::ProfileScope profiling(recorder);
  CommDebugMode comm;
  run.run_start_ns = profiler::now_ns();
  for (int step = 0; step < c.steps; ++step) {
    Batch batch = task_batch(c, pattern, int(first_step) + step);
    if (data_parallel) {
      batch = {batch.inputs.narrow(0, rows.start, rows.rows),
               batch.targets.narrow(0, rows.start * c.seq, rows.rows * c.seq)};
    }
    std::array<std::int64_t, 4> marks{};
    marks[0] = profiler::now_ns();
    Tensor loss = batch_loss(model, batch, c);
    marks[1] = profiler::now_ns();
    (rows.loss_scale == 1.0 ? loss : loss * rows.loss_scale).backward();
    if (ddp) ddp->reduce_gradients();
    marks[2] = profiler::now_ns();
    opt->step();
    opt->zero_grad();
    marks[3] = profiler::now_ns();
    run.comm.push_back(step_comm(comm.records(), dp_group, tp_group));
    run.times.push_back({(marks[1] - marks[0]) * 1e-9, (marks[2] - marks[1]) * 1e-9,
                         (marks[3] - marks[2]) * 1e-9});
    run.phase_marks.push_back(marks);
    run.profile.add(recorder.events());
    if (c.keep_trace) {
      run.events.insert(run.events.end(), recorder.events().begin(), recorder.events().end());
    }
    // Between steps and left out of the step's collectives and profile: reading the loss (a
    // gather under loss parallel, the dp group's sum with --mesh), the finiteness vote, then a
    // due save (never of a state whose loss went non-finite).
    run.losses.push_back(data_parallel ? global_loss(ddp->mesh(), rows, c.batch, loss_value(loss))
                                       : loss_value(loss));
    if (rank == 0 && on_step) on_step(step, run.losses.back());
    const bool finite = all_ranks_finite(run.losses.back());
    comm.reset();
    recorder.clear();
    if (!finite) break;
    if (save_due(c, step)) {
      save_training(c, model, *opt, first_step + step + 1);
      comm.reset();  // the save's collectives belong to no step
      recorder.clear();
    }
  }
  if (c.keep_weights) run.weights = whole_weights(model);
  return run;
}

std::vector<RankRun> run_tensor_parallel(const TrainConfig& c, const StepCallback& on_step) {
  return sim::run(c.world, [&](int rank) { return train_rank(c, rank, on_step); });
}

std::vector<double> run_reference(const TrainConfig& c, const StepCallback& on_step,
                                  std::vector<std::pair<std::string, Tensor>>* weights) {
  const std::vector<std::int64_t> pattern = task_pattern(c);
  TrainConfig plain = c;
  plain.loss_parallel = false;
  manual_seed(c.seed);
  nn::Transformer model(model_args(c));
  auto opt = make_optimizer(c, model.parameters());
  const std::int64_t first_step = resume_training(c, model, *opt);
  std::vector<double> losses;
  for (int step = 0; step < c.steps; ++step) {
    Tensor loss = batch_loss(model, task_batch(c, pattern, int(first_step) + step), plain);
    loss.backward();
    opt->step();
    opt->zero_grad();
    losses.push_back(loss.item());
    if (on_step) on_step(step, losses.back());
    if (!std::isfinite(losses.back())) break;
  }
  if (weights != nullptr) *weights = whole_weights(model);
  return losses;
}

}  // namespace tensorpar::cli
