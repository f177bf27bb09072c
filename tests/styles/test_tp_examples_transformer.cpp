// PyTorch's test_tp_examples.py, test_transformer_training: the reference Transformer (2 layers,
// output weight tied to the token embedding) parallelized with the reference plan
// (styles/transformer_plan.h) and trained with Adam for three steps against the same model on
// one device: logits, gradients and parameters after every step. Each step's collectives are
// counted per phase:
//
// | sequence parallel | forward                        | backward                       | optim |
// |-------------------|--------------------------------|--------------------------------|-------|
// | no                | all_reduce 6, all_gather 1     | all_reduce 9                   | none  |
// | yes               | reduce_scatter 6, all_gather 6 | reduce_scatter 5, all_gather 6 | below |
//
// Without sequence parallel: forward all_reduces = 2 embeddings + 2 layers x (wo, w2), the
// all_gather is the logits' S(-1) -> R; backward all_reduces = 2 layers x (wq, wk, wv, w1 input
// gradients) + the output layer's input gradient. With it, the 10 norm parameters have Partial
// gradients: PyTorch's Adam all_reduces each three times (30); here each is reduced once (10
// all_reduces), or in fewer collectives if bucketed, always carrying exactly their bytes.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/base/error.h"
#include "core/nn/transformer.h"
#include "core/optim/adam.h"
#include "sim/world.h"
#include "styles/colwise_rowwise.h"
#include "styles/parallelize_module.h"
#include "styles/transformer_plan.h"
#include "tp_examples_testing.h"
#include "tp_examples_transformer.h"

namespace tensorpar {
namespace {

using tp_examples::all_cases;
using tp_examples::describe;
using tp_examples::DropoutCase;
using tp_examples::TransformerCase;

class TpExamplesTransformer : public ::testing::TestWithParam<TransformerCase> {};

TEST_P(TpExamplesTransformer, TrainingMatchesSingleDeviceWithExactCounts) {
  const TransformerCase c = GetParam();
  sim::run(c.world, [&](int) { tp_examples::train_against_single_device(c); });
}

TEST_P(TpExamplesTransformer, TiedWeightStaysOneParameterWithOneGradient) {
  const TransformerCase c = GetParam();
  sim::run(c.world, [&](int) {
    DeviceMesh mesh({c.world});
    const nn::ModelArgs args = tp_examples::transformer_args(c.world, c.dtype);
    nn::Transformer parallel(args);
    parallelize_transformer(parallel, mesh,
                            {.sequence_parallel = c.sequence_parallel,
                             .local_output_for_attn = c.dtype == DType::Float64});
    const Tensor weight = parallel.tok_embeddings->parameter("weight");
    EXPECT_EQ(parallel.output->parameter("weight").impl(), weight.impl());
    for (const auto& [name, param] : parallel.named_parameters()) EXPECT_NE(name, "output.weight");
    EXPECT_EQ(DTensor(weight).placements(), (Placements{Shard(0)}));
    Generator gen(7);
    const Tensor tokens = tp_examples::randint(
        args.vocab_size, {tp_examples::kTransformerBatch, tp_examples::transformer_seq(c.world)},
        gen);
    sum(parallel(tokens)).backward();
    ASSERT_TRUE(weight.grad().defined());
    EXPECT_EQ(parallel.output->parameter("weight").grad().impl(), weight.grad().impl());
    EXPECT_EQ(DTensor(weight.grad()).placements(), (Placements{Shard(0)}));
  });
}

INSTANTIATE_TEST_SUITE_P(TpExamples, TpExamplesTransformer, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return describe(info.param); });

// ---- dropout > 0 (tp_examples_transformer.h) ----

class TpExamplesTransformerDropout : public ::testing::TestWithParam<DropoutCase> {};

TEST_P(TpExamplesTransformerDropout, ShardedDropoutEqualsSingleDevice) {
  const DropoutCase c = GetParam();
  sim::run(c.world, [&](int) { tp_examples::dropout_against_single_device(c); });
}

INSTANTIATE_TEST_SUITE_P(TpExamples, TpExamplesTransformerDropout,
                         ::testing::Values(DropoutCase{2, false}, DropoutCase{3, false},
                                           DropoutCase{4, false}, DropoutCase{2, true},
                                           DropoutCase{3, true}, DropoutCase{4, true}),
                         [](const auto& info) {
                           return cat("W", info.param.world,
                                      info.param.sequence_parallel ? "_SP" : "");
                         });

}  // namespace
}  // namespace tensorpar
