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

namespace tensorpar {
namespace {

using tp_examples::backward_counts;
using tp_examples::Counts;
using tp_examples::expect_grads_match;
using tp_examples::expect_optimizer_reduces;
using tp_examples::expect_parameters_match;
using tp_examples::expect_same;
using tp_examples::forward_counts;
using tp_examples::partial_grads;
using tp_examples::PartialGrads;

// Adam's lr 0.25 (PyTorch's) moves every weight by up to 0.25 per step, which amplifies float32
// rounding differences from 5e-7 after one step to 1e-4 after three (W = 3 shapes); after the
// first step float32 continues with lr 0.01 (differences stay near 5e-6), float64 keeps 0.25.
constexpr double kFloat32LaterLr = 0.01;

struct TransformerCase {
  int world;
  bool sequence_parallel;
  DType dtype;
};

std::string describe(const TransformerCase& c) {
  return cat("W", c.world, c.sequence_parallel ? "_SP_" : "_", dtype_name(c.dtype));
}

std::vector<TransformerCase> all_cases() {
  std::vector<TransformerCase> cases;
  for (int world : {2, 3, 4}) {
    for (bool sp : {false, true}) {
      for (DType dtype : {DType::Float64, DType::Float32}) cases.push_back({world, sp, dtype});
    }
  }
  return cases;
}

class TpExamplesTransformer : public ::testing::TestWithParam<TransformerCase> {};

TEST_P(TpExamplesTransformer, TrainingMatchesSingleDeviceWithExactCounts) {
  const TransformerCase c = GetParam();
  sim::run(c.world, [&](int) {
    DeviceMesh mesh({c.world});
    const nn::ModelArgs args = tp_examples::transformer_args(c.world, c.dtype);
    nn::Transformer single(args), parallel(args);
    // As PyTorch's tests: the attention projections return local tensors in float64.
    parallelize_transformer(parallel, mesh,
                            {.sequence_parallel = c.sequence_parallel,
                             .local_output_for_attn = c.dtype == DType::Float64});
    optim::Adam opt_single(single.parameters(), {.lr = 0.25});
    optim::Adam opt_parallel(parallel.parameters(), {.lr = 0.25});
    const PartialGrads partial = partial_grads(parallel, c.sequence_parallel);
    EXPECT_EQ(partial.count, c.sequence_parallel ? 10 : 0);
    const std::int64_t seq = tp_examples::transformer_seq(c.world);
    for (int step = 0; step < 3; ++step) {
      const std::string when = cat(describe(c), " step ", step);
      if (step == 1 && c.dtype == DType::Float32) {
        opt_single.set_lr(kFloat32LaterLr);
        opt_parallel.set_lr(kFloat32LaterLr);
      }
      Generator gen(static_cast<std::uint64_t>(100 + step));
      const Tensor tokens =
          tp_examples::randint(args.vocab_size, {tp_examples::kTransformerBatch, seq}, gen);
      Tensor out;
      {
        CommDebugMode mode;
        out = parallel(tokens);
        sum(out).backward();
        opt_parallel.step();
        EXPECT_EQ(mode.counts_by_name(CommPhase::Forward), forward_counts(c.sequence_parallel))
            << when;
        EXPECT_EQ(mode.counts_by_name(CommPhase::Backward), backward_counts(c.sequence_parallel))
            << when;
        expect_optimizer_reduces(mode, partial, when);
      }
      const Tensor expected = single(tokens);
      sum(expected).backward();
      expect_same(out, expected, when + ": logits");
      expect_grads_match(parallel, single, when);
      opt_single.step();
      expect_parameters_match(parallel, single, when + ", after the step");
      opt_single.zero_grad();
      opt_parallel.zero_grad();
    }
  });
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

// ---- dropout > 0 ----

struct DropoutCase {
  int world;
  bool sequence_parallel;
};

class TpExamplesTransformerDropout : public ::testing::TestWithParam<DropoutCase> {};

// Dropout 0.25 everywhere (embeddings, attention probabilities, residual branches), float64,
// the attention projections returning DTensors (with local outputs the attention dropout would
// see only this rank's heads). Each sharded dropout draws what the single device draws for the
// same element, so logits, gradients and parameters stay equal step after step.
TEST_P(TpExamplesTransformerDropout, ShardedDropoutEqualsSingleDevice) {
  const DropoutCase c = GetParam();
  sim::run(c.world, [&](int) {
    DeviceMesh mesh({c.world});
    nn::ModelArgs args = tp_examples::transformer_args(c.world, DType::Float64);
    args.dropout_p = 0.25;
    nn::Transformer single(args), parallel(args);
    // The standard plan: with sequence parallel its residual stream is a DTensor, so the
    // dropouts on it draw by global index like the single device.
    parallelize_transformer(parallel, mesh,
                            {.sequence_parallel = c.sequence_parallel,
                             .local_output_for_attn = false});
    EXPECT_EQ(parallel.output->parameter("weight").impl(),
              parallel.tok_embeddings->parameter("weight").impl());
    optim::Adam opt_single(single.parameters(), {.lr = 0.25});
    optim::Adam opt_parallel(parallel.parameters(), {.lr = 0.25});
    const PartialGrads partial = partial_grads(parallel, c.sequence_parallel);
    const std::int64_t seq = tp_examples::transformer_seq(c.world);
    for (int step = 0; step < 3; ++step) {
      const std::string when = cat("W", c.world, c.sequence_parallel ? " SP" : "", " step ", step);
      Generator gen(static_cast<std::uint64_t>(200 + step));
      const Tensor tokens =
          tp_examples::randint(args.vocab_size, {tp_examples::kTransformerBatch, seq}, gen);
      Tensor out;
      {
        CommDebugMode mode;
        manual_seed(static_cast<std::uint64_t>(1000 + step));
        out = parallel(tokens);
        sum(out).backward();
        opt_parallel.step();
        EXPECT_EQ(mode.counts_by_name(CommPhase::Forward), forward_counts(c.sequence_parallel))
            << when;
        EXPECT_EQ(mode.counts_by_name(CommPhase::Backward), backward_counts(c.sequence_parallel))
            << when;
        expect_optimizer_reduces(mode, partial, when);
      }
      Tensor without_dropout;
      {
        NoGradGuard no_grad;
        single.eval();
        without_dropout = single(tokens);
        single.train();
      }
      manual_seed(static_cast<std::uint64_t>(1000 + step));
      const Tensor expected = single(tokens);
      EXPECT_FALSE(allclose(expected.detach(), without_dropout)) << when << ": dropout is active";
      sum(expected).backward();
      expect_same(out, expected, when + ": logits");
      expect_grads_match(parallel, single, when);
      opt_single.step();
      expect_parameters_match(parallel, single, when + ", after the step");
      opt_single.zero_grad();
      opt_parallel.zero_grad();
    }
  });
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
