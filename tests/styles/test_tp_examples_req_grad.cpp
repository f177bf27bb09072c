// PyTorch's test_tp_examples.py, test_transformer_req_grad: the reference Transformer without
// weight tying, where only some parameters require gradients. Backward communicates only for
// the activation gradients someone needs, and the optimizer reduces only the Partial gradients
// of trainable sequence-parallel norm parameters. Per row of PyTorch's table (its optimizer
// all_reduce counts are three per Partial gradient; here one, or fewer if bucketed):
//
// | trainable parameters                                   | SP | dtype | backward   | optim |
// |--------------------------------------------------------|----|-------|------------|-------|
// | all                                                    | T  | f32   | RS 5, AG 6 | 10    |
// | all                                                    | F  | f64   | AR 9       | 0     |
// | output.weight, norm.weight, norm.bias                  | T  | f32   | RS 1       | 2     |
// | tok_embeddings.weight, output.weight                   | T  | f32   | RS 5, AG 5 | 0     |
// |   + norm.weight, norm.bias                             | T  | f32   | RS 5, AG 5 | 2     |
// |   + layers.1.ffn_norm.weight, layers.1.ffn_norm.bias   | T  | f32   | RS 5, AG 5 | 4     |
// | tok_embeddings.weight, layers.0.attention.wv.weight,   | T  | f32   | RS 5, AG 5 | 1     |
// |   layers.0.feed_forward.w1.bias, layers.1.ffn_norm.bias,                                 |
// |   layers.1.feed_forward.w2.weight, output.weight                                         |
//
// "optim" counts the Partial gradients reduced (PyTorch: 30, 0, 6, 0, 6, 12, 3 all_reduces).
//
// With only the output layer and the final norm trainable, the one reduce_scatter is the
// output layer's input gradient going back to the norm; with the token embedding trainable every
// activation gradient flows to the bottom except the position embedding's (AG 5, not 6).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/base/error.h"
#include "core/nn/transformer.h"
#include "core/optim/adam.h"
#include "sim/world.h"
#include "styles/transformer_plan.h"
#include "tp_examples_testing.h"

namespace tensorpar {
namespace {

using tp_examples::Counts;

struct ReqGradRow {
  std::string label;
  std::vector<std::string> trainable;  // empty: every parameter
  bool sequence_parallel;
  DType dtype;
  Counts backward;
  std::int64_t partial_grads;  // trainable norm parameters: what the optimizer reduces
};

const std::vector<std::string> kEmbeddingAndOutput = {"tok_embeddings.weight", "output.weight"};

std::vector<std::string> plus(std::vector<std::string> names,
                              const std::vector<std::string>& more) {
  names.insert(names.end(), more.begin(), more.end());
  return names;
}

const std::vector<ReqGradRow>& rows() {
  static const std::vector<ReqGradRow> table = {
      {"All_SP_f32", {}, true, DType::Float32, {{"reduce_scatter", 5}, {"all_gather", 6}}, 10},
      {"All_f64", {}, false, DType::Float64, {{"all_reduce", 9}}, 0},
      {"OutputAndNorm_SP_f32",
       {"output.weight", "norm.weight", "norm.bias"},
       true,
       DType::Float32,
       {{"reduce_scatter", 1}},
       2},
      {"EmbeddingAndOutput_SP_f32",
       kEmbeddingAndOutput,
       true,
       DType::Float32,
       {{"reduce_scatter", 5}, {"all_gather", 5}},
       0},
      {"EmbeddingOutputNorm_SP_f32",
       plus(kEmbeddingAndOutput, {"norm.weight", "norm.bias"}),
       true,
       DType::Float32,
       {{"reduce_scatter", 5}, {"all_gather", 5}},
       2},
      {"EmbeddingOutputNormFfnNorm_SP_f32",
       plus(kEmbeddingAndOutput,
            {"norm.weight", "norm.bias", "layers.1.ffn_norm.weight", "layers.1.ffn_norm.bias"}),
       true,
       DType::Float32,
       {{"reduce_scatter", 5}, {"all_gather", 5}},
       4},
      {"Scattered_SP_f32",
       {"tok_embeddings.weight", "layers.0.attention.wv.weight", "layers.0.feed_forward.w1.bias",
        "layers.1.ffn_norm.bias", "layers.1.feed_forward.w2.weight", "output.weight"},
       true,
       DType::Float32,
       {{"reduce_scatter", 5}, {"all_gather", 5}},
       1},
  };
  return table;
}

bool trains(const ReqGradRow& row, const std::string& name) {
  return row.trainable.empty() ||
         std::find(row.trainable.begin(), row.trainable.end(), name) != row.trainable.end();
}

// Freezes every parameter the row does not train; every name the row lists must exist.
void freeze(nn::Module& model, const ReqGradRow& row) {
  std::size_t found = 0;
  for (auto& [name, param] : model.named_parameters()) {
    if (trains(row, name)) {
      ++found;
    } else {
      param.requires_grad_(false);
    }
  }
  if (!row.trainable.empty()) {
    EXPECT_EQ(found, row.trainable.size()) << row.label;
  }
}

class TpExamplesReqGrad : public ::testing::TestWithParam<std::tuple<std::size_t, int>> {};

TEST_P(TpExamplesReqGrad, CommunicatesOnlyForWhatTrains) {
  const ReqGradRow& row = rows()[std::get<0>(GetParam())];
  const int world = std::get<1>(GetParam());
  sim::run(world, [&](int) {
    DeviceMesh mesh({world});
    nn::ModelArgs args = tp_examples::transformer_args(world, row.dtype);
    args.weight_tying = false;
    nn::Transformer single(args), parallel(args);
    freeze(single, row);
    freeze(parallel, row);
    parallelize_transformer(parallel, mesh,
                            {.sequence_parallel = row.sequence_parallel,
                             .local_output_for_attn = row.dtype == DType::Float64});
    for (const auto& [name, param] : parallel.named_parameters()) {
      EXPECT_EQ(param.requires_grad(), trains(row, name)) << name;
    }
    const tp_examples::PartialGrads partial =
        tp_examples::partial_grads(parallel, row.sequence_parallel);
    EXPECT_EQ(partial.count, row.partial_grads);
    optim::Adam opt_single(single.parameters(), {.lr = 0.25});
    optim::Adam opt_parallel(parallel.parameters(), {.lr = 0.25});

    Generator gen(3);
    const Tensor tokens = tp_examples::randint(
        args.vocab_size, {tp_examples::kTransformerBatch, tp_examples::transformer_seq(world)},
        gen);
    Tensor out;
    {
      CommDebugMode mode;
      out = parallel(tokens);
      sum(out).backward();
      opt_parallel.step();
      EXPECT_EQ(mode.counts_by_name(CommPhase::Forward),
                tp_examples::forward_counts(row.sequence_parallel));
      EXPECT_EQ(mode.counts_by_name(CommPhase::Backward), row.backward);
      tp_examples::expect_optimizer_reduces(mode, partial, row.label);
    }
    const Tensor expected = single(tokens);
    sum(expected).backward();
    tp_examples::expect_same(out, expected, row.label + ": logits");
    tp_examples::expect_grads_match(parallel, single, row.label);
    opt_single.step();
    tp_examples::expect_parameters_match(parallel, single, row.label + ", after the step");
  });
}

INSTANTIATE_TEST_SUITE_P(TpExamples, TpExamplesReqGrad,
                         ::testing::Combine(::testing::Range<std::size_t>(0, rows().size()),
                                            ::testing::Values(2, 3, 4)),
                         [](const auto& info) {
                           return cat(rows()[std::get<0>(info.param)].label, "_W",
                                      std::get<1>(info.param));
                         });

}  // namespace
}  // namespace tensorpar
