#include "styles/transformer_plan.h"

#include "styles/colwise_rowwise.h"
#include "styles/prepare_module.h"
#include "styles/sequence_parallel.h"

namespace tensorpar {

ParallelizePlan transformer_tp_plan(const TransformerPlanOptions& options) {
  const bool sp = options.sequence_parallel;
  const bool attn_local = options.local_output_for_attn;
  ParallelizePlan plan;
  // With sequence parallel the residual stream stays a DTensor (use_local_output = false on the
  // Rowwise layers that produce it): the collectives are the same, and dropout on it then draws
  // by global index, equal to the single-device dropout. As local shards (PyTorch's plan) each
  // rank would number its own shard from zero.
  plan.emplace_back("tok_embeddings",
                    RowwiseParallel({.input_layouts = Replicate(),
                                     .output_layouts = sp ? Shard(1) : Replicate(),
                                     .use_local_output = !sp}));
  plan.emplace_back("pos_embeddings",
                    RowwiseParallel({.input_layouts = Replicate(),
                                     .output_layouts = sp ? Shard(0) : Replicate(),
                                     .use_local_output = !sp}));
  if (sp) {
    plan.emplace_back("norm", SequenceParallel());
    plan.emplace_back("layers.*.attention",
                      PrepareModuleInput({.input_layouts = Shard(1),
                                          .desired_input_layouts = Replicate()}));
    plan.emplace_back("layers.*.attention_norm", SequenceParallel());
    plan.emplace_back("layers.*.ffn_norm", SequenceParallel());
  }
  for (const char* proj : {"wq", "wk", "wv"}) {
    plan.emplace_back(std::string("layers.*.attention.") + proj,
                      ColwiseParallel({.use_local_output = attn_local}));
  }
  const std::optional<Placement> residual =
      sp ? std::optional<Placement>(Shard(1)) : std::nullopt;
  plan.emplace_back("layers.*.attention.wo",
                    RowwiseParallel({.output_layouts = residual, .use_local_output = !sp}));
  plan.emplace_back("layers.*.feed_forward.w1", ColwiseParallel({.input_layouts = residual}));
  plan.emplace_back("layers.*.feed_forward.w2",
                    RowwiseParallel({.output_layouts = residual, .use_local_output = !sp}));
  if (options.loss_parallel) {
    // Logits stay sharded on the vocab dim for cross_entropy under loss_parallel().
    plan.emplace_back("output", ColwiseParallel({.input_layouts = residual,
                                                 .output_layouts = Shard(-1),
                                                 .use_local_output = false}));
  } else {
    plan.emplace_back("output", ColwiseParallel({.input_layouts = residual,
                                                 .output_layouts = Replicate()}));
  }
  return plan;
}

void parallelize_transformer(nn::Transformer& model, const DeviceMesh& mesh,
                             const TransformerPlanOptions& options) {
  parallelize_module(model, mesh, transformer_tp_plan(options));
  // Both weights are Shard(0) of the (vocab, dim) matrix, so one distribution serves both and
  // the tie survives parallelize_module; tie again in case the plan was changed.
  if (model.args().weight_tying) model.tie_weights();
}

}  // namespace tensorpar
