#pragma once
// The bodies of test_tp_examples_transformer's training tests, run by every rank of a world of
// `world` ranks: the simulated one (test_tp_examples_transformer.cpp, rank threads) and a job of
// gloo processes (test_tp_examples_transformer_processes.cpp). The current world must have
// c.world ranks.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/nn/transformer.h"
#include "core/optim/adam.h"
#include "styles/transformer_plan.h"
#include "tp_examples_testing.h"

namespace tensorpar::tp_examples {

// Adam's lr 0.25 (PyTorch's) moves every weight by up to 0.25 per step, which amplifies float32
// rounding differences from 5e-7 after one step to 1e-4 after three (W = 3 shapes); after the
// first step float32 continues with lr 0.01 (differences stay near 5e-6), float64 keeps 0.25.
constexpr double kFloat32LaterLr = 0.01;

struct TransformerCase {
  int world;
  bool sequence_parallel;
  DType dtype;
};

inline std::string describe(const TransformerCase& c) {
  return cat("W", c.world, c.sequence_parallel ? "_SP_" : "_", dtype_name(c.dtype));
}

inline std::vector<TransformerCase> all_cases() {
  std::vector<TransformerCase> cases;
  for (int world : {2, 3, 4}) {
    for (bool sp : {false, true}) {
      for (DType dtype : {DType::Float64, DType::Float32}) cases.push_back({world, sp, dtype});
    }
  }
  return cases;
}

// PyTorch's test_transformer_training: three Adam steps of the parallelized Transformer against
// the same model on one device, with exact collective counts per phase.
inline void train_against_single_device(const TransformerCase& c) {
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
}

// ---- dropout > 0 ----

struct DropoutCase {
  int world;
  bool sequence_parallel;
};

// Dropout 0.25 everywhere (embeddings, attention probabilities, residual branches), float64,
// the attention projections returning DTensors (with local outputs the attention dropout would
// see only this rank's heads). Each sharded dropout draws what the single device draws for the
// same element, so logits, gradients and parameters stay equal step after step.
inline void dropout_against_single_device(const DropoutCase& c) {
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
}

}  // namespace tensorpar::tp_examples
