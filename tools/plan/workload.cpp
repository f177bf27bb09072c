#include "tools/plan/workload.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/base/error.h"
#include "core/comm/rank_context.h"
#include "tools/plan/issue_order.h"

namespace tensorpar::plan {

namespace {

using cost::WorkItem;

enum PhaseIndex { kForward = 0, kBackward = 1, kOptimizer = 2 };

int phase_index(const std::string& phase) {
  if (phase == "forward") return kForward;
  if (phase == "backward") return kBackward;
  check_arg(phase == "optimizer", "workload: a kernel record has phase '", phase, "'");
  return kOptimizer;
}

int phase_index(CommPhase phase) {
  switch (phase) {
    case CommPhase::Forward:
      return kForward;
    case CommPhase::Backward:
      return kBackward;
    case CommPhase::Optimizer:
      return kOptimizer;
  }
  return kForward;
}

// Equal records up to the module a collective is attributed to (layer i's differs from layer
// j's).
bool same(const WorkItem& a, const WorkItem& b) {
  if (a.is_collective != b.is_collective) return false;
  if (a.is_collective) {
    const auto &x = a.collective, &y = b.collective;
    return x.kind == y.kind && x.bytes == y.bytes && x.group == y.group && x.op == y.op &&
           x.phase == y.phase;
  }
  const auto &x = a.op, &y = b.op;
  return x.kernel == y.kernel && x.op == y.op && x.flops == y.flops &&
         x.bytes_read == y.bytes_read && x.bytes_written == y.bytes_written && x.dtype == y.dtype &&
         x.shape == y.shape && x.phase == y.phase;
}

std::int64_t affine(std::int64_t at1, std::int64_t at2, std::int64_t b) {
  return at1 + (b - 1) * (at2 - at1);
}

// The record at micro-batch b from the records at 1 and 2.
WorkItem at_micro_batch(const WorkItem& one, const WorkItem& two, std::int64_t b) {
  if (b == 1) return one;
  if (b == 2) return two;
  WorkItem out = one;
  if (one.is_collective) {
    out.collective.bytes = affine(one.collective.bytes, two.collective.bytes, b);
    return out;
  }
  out.op.flops = affine(one.op.flops, two.op.flops, b);
  out.op.bytes_read = affine(one.op.bytes_read, two.op.bytes_read, b);
  out.op.bytes_written = affine(one.op.bytes_written, two.op.bytes_written, b);
  for (std::size_t d = 0; d < out.op.shape.size(); ++d) {
    out.op.shape[d] = affine(one.op.shape[d], two.op.shape[d], b);
  }
  return out;
}

std::vector<WorkItem> at_micro_batch(const std::vector<WorkItem>& one,
                                     const std::vector<WorkItem>& two, std::int64_t b,
                                     const char* part) {
  if (one.size() != two.size()) {
    throw std::runtime_error(cat("workload: the ", part, " has ", one.size(),
                                 " records at micro-batch 1 but ", two.size(), " at 2"));
  }
  std::vector<WorkItem> out;
  out.reserve(one.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    const bool alike = one[i].is_collective == two[i].is_collective &&
                       (one[i].is_collective
                            ? one[i].collective.kind == two[i].collective.kind
                            : one[i].op.kernel == two[i].op.kernel && one[i].op.op == two[i].op.op);
    if (!alike) {
      throw std::runtime_error(cat("workload: record ", i, " of the ", part,
                                   " differs in kind between micro-batch 1 and 2"));
    }
    out.push_back(at_micro_batch(one[i], two[i], b));
  }
  return out;
}

void append(std::vector<WorkItem>& out, const std::vector<WorkItem>& items, std::int64_t times) {
  for (std::int64_t t = 0; t < times; ++t) out.insert(out.end(), items.begin(), items.end());
}

std::vector<WorkItem> expand(const WorkloadFactory::Split& s, std::int64_t layers) {
  std::vector<WorkItem> out;
  out.reserve(s.head.size() + s.tail.size() + s.layer.size() * std::size_t(layers - 1));
  append(out, s.head, 1);
  append(out, s.layer, layers - 1);
  append(out, s.tail, 1);
  return out;
}

// Kernels of the optimizer that update one parameter each, in the optimizer's order (the
// registration order): their local gradient bytes.
std::vector<std::int64_t> gradient_bytes(const std::vector<WorkItem>& optimizer) {
  std::vector<std::int64_t> out;
  for (const WorkItem& item : optimizer) {
    if (item.is_collective) continue;
    if (item.op.kernel != "adam_update_" && item.op.kernel != "sgd_update_") continue;
    out.push_back(numel(item.op.shape) * std::int64_t(dtype_size(item.op.dtype)));
  }
  return out;
}

// The workload's recompute phase: what backward re-runs of the forward, marked backward.
std::vector<WorkItem> recompute_items(const std::vector<WorkItem>& layer_forward,
                                      cost::Recompute recompute, std::int64_t layers,
                                      std::int64_t seq) {
  std::vector<WorkItem> once;
  if (recompute == cost::Recompute::Full) once = layer_forward;
  if (recompute == cost::Recompute::Selective) once = attention_core(layer_forward, seq);
  for (WorkItem& item : once) {
    item.op.phase = "backward";
    item.collective.phase = CommPhase::Backward;
  }
  std::vector<WorkItem> out;
  append(out, once, layers);
  return out;
}

// A float32 step's records as the same step in a 16-bit dtype: forward and backward kernels and
// every collective move half the bytes at the 16-bit peak; the optimizer's kernels keep theirs
// (mixed-precision Adam reads a 16-bit gradient and fp32 master weights and moments, and writes
// both weights: 28 bytes per parameter, as float32 Adam's 16 read + 12 written).
void to_16_bit(std::vector<WorkItem>& items, bool kernels_too) {
  for (WorkItem& item : items) {
    if (item.is_collective) {
      item.collective.bytes /= 2;
    } else if (kernels_too && item.op.dtype == DType::Float32) {
      item.op.dtype = DType::BFloat16;
      item.op.bytes_read /= 2;
      item.op.bytes_written /= 2;
    }
  }
}

}  // namespace

ShapeOnlyStepConfig step_config(const cost::ModelShape& model, std::int64_t layers,
                                const WorkloadSpec& spec, double dropout) {
  ShapeOnlyStepConfig c;
  c.world = spec.tp;
  c.model.n_layers = layers;
  c.model.dim = model.hidden;
  c.model.n_heads = model.heads;
  c.model.vocab_size = model.vocab;
  c.model.max_seq_len = model.seq;
  c.model.dropout_p = dropout;
  // The model's initialisers draw float32 (or float64) only: 16-bit steps run in float32 and
  // run_workload rewrites their records.
  c.model.dtype = DType::Float32;
  c.batch = spec.micro_batch;
  c.seq = model.seq;
  c.sequence_parallel = spec.sequence_parallel;
  c.loss_parallel = spec.tp > 1 && spec.loss_parallel;
  c.optimizer = "adam";
  return c;
}

PlanWorkload run_workload(const ShapeOnlyStepConfig& config, DType dtype) {
  sim::ShapeOnlyOptions options;
  options.parallelism = config.parallelism;
  // Rank 0 alone: under torch.chunk it holds the largest shard of every extent, so it is the
  // slowest rank of its group (uneven vocabularies give the last ranks fewer rows).
  options.representative = [](int) { return 0; };
  if (config.distinct_ranks) {
    const std::vector<int> classes = transformer_rank_classes(config);
    options.representative = [classes](int r) { return classes[std::size_t(r)]; };
  }
  std::vector<std::size_t> positions;
  const auto ranks = sim::run_shape_only(
      config.world,
      [&](int rank, sim::ShapeOnlyRecording& rec) {
        auto noted = std::make_shared<std::vector<std::size_t>>();
        const WorldGuard guard(
            std::make_shared<IssueOrderCommunicator>(current_world_ptr(), rec.ops(), noted));
        transformer_tp_step(config, [&](std::string_view phase) {
          if (phase == "forward") {
            rec.restart();
            noted->clear();
          }
          rec.set_phase(std::string(phase));
        });
        if (rank == 0) positions = *noted;
      },
      options);
  const sim::ShapeOnlyRank& r0 = ranks[0];
  const auto& ops = *r0.ops;
  const auto& collectives = *r0.collectives;
  check_arg(positions.size() == collectives.size(), "workload: ", positions.size(),
            " issue positions for ", collectives.size(), " collectives");

  PlanWorkload out;
  out.peak_bytes = double(r0.peak_bytes);
  std::vector<WorkItem>* phases[3] = {&out.workload.forward, &out.workload.backward,
                                      &out.workload.optimizer};
  std::size_t next = 0;
  for (std::size_t i = 0; i <= ops.size(); ++i) {
    for (; next < collectives.size() && positions[next] == i; ++next) {
      WorkItem item;
      item.is_collective = true;
      item.collective = collectives[next];
      phases[phase_index(item.collective.phase)]->push_back(std::move(item));
    }
    if (i == ops.size()) break;
    WorkItem item;
    item.op = ops[i];
    phases[phase_index(item.op.phase)]->push_back(std::move(item));
  }
  out.workload.gradient_bytes = gradient_bytes(out.workload.optimizer);
  if (dtype != DType::Float32) {
    to_16_bit(out.workload.forward, true);
    to_16_bit(out.workload.backward, true);
    to_16_bit(out.workload.optimizer, false);
    for (std::int64_t& b : out.workload.gradient_bytes) b /= 2;
  }
  return out;
}

LayerInsertion layer_insertion(const std::vector<WorkItem>& one_layer,
                               const std::vector<WorkItem>& two_layers) {
  const std::size_t n1 = one_layer.size(), n2 = two_layers.size();
  if (n2 < n1) {
    throw std::runtime_error(cat("workload: the 2-layer run has fewer records (", n2,
                                 ") than the 1-layer run (", n1, ")"));
  }
  std::size_t prefix = 0;
  while (prefix < n1 && same(one_layer[prefix], two_layers[prefix])) ++prefix;
  std::size_t suffix = 0;
  while (suffix < n1 && same(one_layer[n1 - 1 - suffix], two_layers[n2 - 1 - suffix])) ++suffix;
  if (prefix + suffix < n1) {
    throw std::runtime_error(
        cat("workload: the 2-layer run is not the 1-layer run with one block "
            "inserted (common prefix ",
            prefix, ", suffix ", suffix, " of ", n1, " records)"));
  }
  return {n1 - suffix, prefix, n2 - n1};
}

WorkloadFactory::Split split_layers(const std::vector<WorkItem>& one_layer,
                                    const std::vector<WorkItem>& two_layers, std::size_t at) {
  const std::size_t k = two_layers.size() - one_layer.size();
  WorkloadFactory::Split s;
  s.head.assign(one_layer.begin(), one_layer.begin() + std::ptrdiff_t(at));
  s.layer.assign(two_layers.begin() + std::ptrdiff_t(at),
                 two_layers.begin() + std::ptrdiff_t(at + k));
  s.tail.assign(one_layer.begin() + std::ptrdiff_t(at), one_layer.end());
  return s;
}

std::vector<WorkItem> attention_core(const std::vector<WorkItem>& layer_forward, std::int64_t seq) {
  auto scores = [&](const WorkItem& item) {
    const Shape& s = item.op.shape;
    return !item.is_collective && item.op.kernel == "matmul" && s.size() >= 2 &&
           s[s.size() - 1] == seq && s[s.size() - 2] == seq;
  };
  const auto first = std::find_if(layer_forward.begin(), layer_forward.end(), scores);
  if (first == layer_forward.end()) return {};
  auto last = std::find_if(first + 1, layer_forward.end(), [](const WorkItem& item) {
    return !item.is_collective && item.op.kernel == "matmul";
  });
  if (last != layer_forward.end()) ++last;
  return {first, last};
}

WorkloadFactory::WorkloadFactory(cost::ModelShape model, double dropout)
    : model_(model), dropout_(dropout) {}

const WorkloadFactory::Base& WorkloadFactory::base(const WorkloadSpec& spec) {
  const DType dtype = spec.dtype == DType::Float32 ? DType::Float32 : DType::BFloat16;
  const bool loss_parallel = spec.tp > 1 && spec.loss_parallel;
  const auto key = std::make_tuple(spec.tp, spec.sequence_parallel, dtype, loss_parallel);
  auto it = bases_.find(key);
  if (it != bases_.end()) return it->second;
  Base b;
  cost::Workload one[2], two[2];  // [micro-batch 1, 2] at 1 and 2 layers
  for (int mb = 0; mb < 2; ++mb) {
    PlanWorkload runs[2];
    for (int layers = 0; layers < 2; ++layers) {
      WorkloadSpec run = spec;
      run.micro_batch = mb + 1;
      run.recompute = cost::Recompute::None;
      runs[layers] = run_workload(step_config(model_, layers + 1, run, dropout_), dtype);
      ++runs_;
      b.peak[mb][layers] = runs[layers].peak_bytes;
    }
    one[mb] = std::move(runs[0].workload);
    two[mb] = std::move(runs[1].workload);
  }
  // The block goes in at the same record at both micro-batches (any point where both runs
  // allow it: records of the head's end may equal those of a layer's end).
  const auto phase_of = [](cost::Workload& w, int phase) -> std::vector<WorkItem>& {
    return phase == kForward ? w.forward : phase == kBackward ? w.backward : w.optimizer;
  };
  for (int phase : {kForward, kBackward, kOptimizer}) {
    const LayerInsertion a = layer_insertion(phase_of(one[0], phase), phase_of(two[0], phase));
    const LayerInsertion c = layer_insertion(phase_of(one[1], phase), phase_of(two[1], phase));
    const std::size_t at = std::max(a.first, c.first);
    if (a.block != c.block || at > std::min(a.last, c.last)) {
      throw std::runtime_error(cat("workload: the layer block differs between micro-batch 1 (",
                                   a.block, " records from ", a.first, "..", a.last, ") and 2 (",
                                   c.block, " from ", c.first, "..", c.last, ")"));
    }
    for (int mb = 0; mb < 2; ++mb) {
      b.phases[mb][phase] = split_layers(phase_of(one[mb], phase), phase_of(two[mb], phase), at);
    }
  }
  return bases_.emplace(key, std::move(b)).first->second;
}

PlanWorkload WorkloadFactory::build(const WorkloadSpec& spec) {
  check_arg(spec.micro_batch >= 1, "workload: micro_batch must be >= 1, got ", spec.micro_batch);
  const DType dtype = spec.dtype == DType::Float32 ? DType::Float32 : DType::BFloat16;
  const Base& b = base(spec);
  const std::int64_t mb = spec.micro_batch;
  auto split_at = [&](int phase) {
    const Split &one = b.phases[0][phase], &two = b.phases[1][phase];
    return Split{at_micro_batch(one.head, two.head, mb, "fixed head"),
                 at_micro_batch(one.layer, two.layer, mb, "layer block"),
                 at_micro_batch(one.tail, two.tail, mb, "fixed tail")};
  };
  const Split forward = split_at(kForward);
  PlanWorkload w;
  w.workload.forward = expand(forward, model_.layers);
  w.workload.recompute = recompute_items(forward.layer, spec.recompute, model_.layers, model_.seq);
  w.workload.backward = expand(split_at(kBackward), model_.layers);
  w.workload.optimizer = expand(split_at(kOptimizer), model_.layers);
  w.workload.gradient_bytes = gradient_bytes(w.workload.optimizer);
  if (dtype != DType::Float32) {
    for (std::int64_t& g : w.workload.gradient_bytes) g /= 2;
  }
  const auto in_layers = [&](double one, double two) {
    return one + double(model_.layers - 1) * (two - one);
  };
  const double at1 = in_layers(b.peak[0][0], b.peak[0][1]);
  const double at2 = in_layers(b.peak[1][0], b.peak[1][1]);
  w.peak_bytes = at1 + double(mb - 1) * (at2 - at1);
  return w;
}

}  // namespace tensorpar::plan
