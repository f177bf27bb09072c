#include "tools/shape_only/transformer_step.h"

#include <map>
#include <memory>
#include <optional>

#include "core/base/error.h"
#include "core/dtensor/device_mesh.h"
#include "core/dtensor/placement.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/optim/sgd.h"
#include "core/tensor/meta_device.h"
#include "styles/data_parallel.h"
#include "styles/loss_parallel.h"
#include "styles/transformer_plan.h"

namespace tensorpar {

namespace {

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name,
                                                 std::vector<Tensor> params) {
  if (name == "sgd") {
    return std::make_unique<optim::SGD>(std::move(params),
                                        optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  }
  check_arg(name == "adam", "shape_only_step: optimizer must be adam or sgd, got '", name, "'");
  return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 1e-3});
}

// The extent of torch.chunk's shard `index` of n over `parts`.
std::int64_t chunk_of(std::int64_t n, std::int64_t parts, std::int64_t index) {
  return chunk_extent(n, parts, index).size;
}

}  // namespace

namespace {

ShapeOnlyStepConfig published(int world, std::int64_t layers, std::int64_t dim, std::int64_t heads,
                              std::int64_t vocab, std::int64_t seq) {
  ShapeOnlyStepConfig c;
  c.world = world;
  c.model.n_layers = layers;
  c.model.dim = dim;
  c.model.n_heads = heads;
  c.model.vocab_size = vocab;
  c.model.max_seq_len = seq;
  c.model.dropout_p = 0.0;
  c.seq = seq;
  c.batch = 1;
  return c;
}

}  // namespace

ShapeOnlyStepConfig gpt3_175b(int world, std::int64_t layers) {
  return published(world, layers, 12288, 96, 50257, 2048);
}

ShapeOnlyStepConfig llama2_70b(int world, std::int64_t layers) {
  return published(world, layers, 8192, 64, 32000, 4096);
}

void transformer_tp_step(const ShapeOnlyStepConfig& c,
                         const std::function<void(std::string_view phase)>& on_phase) {
  check_arg(c.seq >= 1 && c.seq <= c.model.max_seq_len, "shape_only_step: seq ", c.seq,
            " must be in [1, max_seq_len ", c.model.max_seq_len, "]");
  check_arg(c.batch >= 1, "shape_only_step: batch must be >= 1, got ", c.batch);
  manual_seed(c.model.seed);
  nn::Transformer model(c.model);
  const bool data_parallel = c.dp > 0;
  const DeviceMesh mesh = data_parallel ? DeviceMesh({c.dp, c.world}, {"dp", "tp"})
                                        : DeviceMesh({c.world}, {"tp"});
  parallelize_transformer(model, data_parallel ? mesh["tp"] : mesh,
                          {.sequence_parallel = c.sequence_parallel,
                           .local_output_for_attn = false,
                           .loss_parallel = c.loss_parallel});
  std::optional<DistributedDataParallel> ddp;
  DataParallelBatch rows{.start = 0, .rows = c.batch, .loss_scale = 1.0};
  if (data_parallel) {
    ddp.emplace(model, mesh["dp"]);
    rows = data_parallel_batch(c.batch, ddp->mesh());
  }
  auto opt = make_optimizer(c.optimizer, model.parameters());
  const Tensor tokens = zeros({rows.rows, c.seq}, DType::Int64);
  const Tensor targets = zeros({rows.rows * c.seq}, DType::Int64);

  on_phase("forward");
  Tensor logits = reshape(model(tokens), {rows.rows * c.seq, c.model.vocab_size});
  Tensor loss;
  if (c.loss_parallel) {
    const LossParallel scope = loss_parallel();
    loss = cross_entropy(logits, targets);
  } else {
    loss = cross_entropy(logits, targets);
  }
  on_phase("backward");
  (rows.loss_scale == 1.0 ? loss : loss * rows.loss_scale).backward();
  if (ddp) ddp->reduce_gradients();
  on_phase("optimizer");
  opt->step();
  opt->zero_grad();
}

std::vector<int> transformer_rank_classes(const ShapeOnlyStepConfig& c) {
  const std::vector<std::int64_t> extents = {c.model.vocab_size, c.model.max_seq_len, c.model.dim,
                                             4 * c.model.dim, c.seq};
  const int dp = std::max(1, c.dp);
  std::map<std::vector<std::int64_t>, int> first;
  std::vector<int> classes(static_cast<std::size_t>(dp * c.world));
  for (int r = 0; r < dp * c.world; ++r) {
    const int tp_rank = r % c.world;
    std::vector<std::int64_t> shards = {chunk_of(c.batch, dp, r / c.world)};
    for (std::int64_t n : extents) shards.push_back(chunk_of(n, c.world, tp_rank));
    classes[static_cast<std::size_t>(r)] = first.emplace(std::move(shards), r).first->second;
  }
  return classes;
}

namespace {

// The groups of rank r on the mesh ("dp", "tp") of shape [dp, tp]: its row and its column.
std::vector<int> tp_group_of(int r, int tp) {
  std::vector<int> g;
  for (int j = 0; j < tp; ++j) g.push_back(r / tp * tp + j);
  return g;
}
std::vector<int> dp_group_of(int r, int dp, int tp) {
  std::vector<int> g;
  for (int i = 0; i < dp; ++i) g.push_back(i * tp + r % tp);
  return g;
}

// The representative's collectives as rank r issues them: each group of the representative's
// replaced by r's group of the same mesh dim (the tp group checked first, so that a one-rank tp
// group maps to r's).
std::shared_ptr<const std::vector<CollectiveRecord>> remap_groups(
    const std::vector<CollectiveRecord>& records, int rep, int r, int dp, int tp) {
  const std::vector<int> rep_tp = tp_group_of(rep, tp), rep_dp = dp_group_of(rep, dp, tp);
  const std::vector<int> own_tp = tp_group_of(r, tp), own_dp = dp_group_of(r, dp, tp);
  auto out = std::make_shared<std::vector<CollectiveRecord>>(records);
  for (CollectiveRecord& record : *out) {
    if (record.group == rep_tp) {
      record.group = own_tp;
    } else if (record.group == rep_dp) {
      record.group = own_dp;
    } else {
      check_state(false, "shape_only_step: rank ", rep, " issued a collective over a group of ",
                  record.group.size(), " ranks that is neither its tp nor its dp group");
    }
  }
  return out;
}

}  // namespace

std::vector<sim::ShapeOnlyRank> shape_only_step(const ShapeOnlyStepConfig& c) {
  check_arg(c.world >= 1 && c.dp >= 0, "shape_only_step: world ", c.world, " and dp ", c.dp,
            " must be >= 1 and >= 0");
  sim::ShapeOnlyOptions options;
  options.parallelism = c.parallelism;
  if (c.distinct_ranks) {
    options.representative = [classes = transformer_rank_classes(c)](int rank) {
      return classes[static_cast<std::size_t>(rank)];
    };
  }
  std::vector<sim::ShapeOnlyRank> ranks = sim::run_shape_only(
      c.ranks(),
      [&](int, sim::ShapeOnlyRecording& rec) {
        transformer_tp_step(c, [&](std::string_view phase) {
          if (phase == "forward") rec.restart();
          rec.set_phase(std::string(phase));
        });
      },
      options);
  if (c.dp > 0) {
    for (sim::ShapeOnlyRank& rank : ranks) {
      if (rank.represented_by == rank.rank) continue;
      rank.collectives =
          remap_groups(*rank.collectives, rank.represented_by, rank.rank, c.dp, c.world);
    }
  }
  return ranks;
}

}  // namespace tensorpar
