// PyTorch's test_tp_examples.py, the MLP and weight-tying examples: Megatron's Colwise -> Rowwise
// MLP trained with SGD and run for inference, with and without sequence parallel, and an
// Embedding tied to a Linear after both were parallelized. Every step is compared with the same
// model on one device, and every phase's collectives are counted exactly.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/base/error.h"
#include "core/nn/layers.h"
#include "core/optim/sgd.h"
#include "sim/world.h"
#include "styles/colwise_rowwise.h"
#include "styles/parallelize_module.h"
#include "tp_examples_testing.h"

namespace tensorpar {
namespace {

using tp_examples::Counts;
using tp_examples::expect_grads_match;
using tp_examples::expect_parameters_match;
using tp_examples::expect_same;

// net1 = Linear(10, hidden), net2 = Linear(hidden, 10), both from Generator(5) as PyTorch's
// MLPModule seeds 5. The plan hands net1's Shard(-1) output to net2 as a local tensor, which
// only works when hidden splits evenly (16 on 2 or 4 ranks, 24 on 3): from_local infers the
// global width from the local one. Uneven splits (16 on 3 ranks: 6, 6, 4; 18 on 4: 5, 5, 5, 3)
// keep net1's output a DTensor, which carries its global shape.
struct MlpCase {
  int world;
  std::int64_t hidden;
  bool local_output;  // net1's use_local_output
};
const std::vector<MlpCase> kMlpCases = {
    {2, 16, true}, {4, 16, true}, {3, 24, true}, {3, 16, false}, {4, 18, false}};

std::string describe(const MlpCase& c) {
  return cat("W=", c.world, " hidden=", c.hidden,
             c.local_output ? " local output" : " DTensor output");
}

// Without sequence parallel: {net1: Colwise(), net2: Rowwise()}. With it the batch is sharded
// on dim 0 before net1 and after net2: {net1: Colwise(input S(0)), net2: Rowwise(output S(0))}.
ParallelizePlan mlp_plan(bool sequence_parallel, bool local_output) {
  if (!sequence_parallel) {
    return {{"net1", ColwiseParallel({.use_local_output = local_output})},
            {"net2", RowwiseParallel()}};
  }
  return {{"net1", ColwiseParallel({.input_layouts = Shard(0), .use_local_output = local_output})},
          {"net2", RowwiseParallel({.output_layouts = Shard(0)})}};
}

constexpr std::int64_t kBatch = 8, kFeatures = 10;

// One [8, 10] batch for this rank, and the global batch the single device sees: the same batch
// on every rank without sequence parallel; with it, rank r's batch is rows [8r, 8r + 8) of it.
struct MlpBatch {
  Tensor local;
  Tensor global;
};
MlpBatch mlp_batch(int step, bool sequence_parallel, int world, int rank) {
  if (!sequence_parallel) {
    Generator gen(static_cast<std::uint64_t>(100 * step));
    Tensor x = rand({kBatch, kFeatures}, gen);
    return {x, x};
  }
  std::vector<Tensor> parts;
  for (int r = 0; r < world; ++r) {
    Generator gen(static_cast<std::uint64_t>(100 * step + r));
    parts.push_back(rand({kBatch, kFeatures}, gen));
  }
  return {parts[static_cast<std::size_t>(rank)], cat(parts, std::int64_t{0})};
}

// Three SGD steps (lr 0.25): output, gradients and parameters after each step equal the single
// device's; forward, backward and optimizer collectives are counted per phase.
void train_mlp(const MlpCase& c, bool sequence_parallel, const Counts& expected_forward,
               const Counts& expected_backward) {
  sim::run(c.world, [&](int rank) {
    DeviceMesh mesh({c.world});
    Generator gen_single(5), gen_parallel(5);
    nn::MLP single(kFeatures, c.hidden, kFeatures, true, gen_single);
    nn::MLP parallel(kFeatures, c.hidden, kFeatures, true, gen_parallel);
    parallelize_module(parallel, mesh, mlp_plan(sequence_parallel, c.local_output));
    optim::SGD opt_single(single.parameters(), {.lr = 0.25});
    optim::SGD opt_parallel(parallel.parameters(), {.lr = 0.25});
    for (int step = 0; step < 3; ++step) {
      const std::string when = cat(describe(c), " step ", step);
      const MlpBatch batch = mlp_batch(step, sequence_parallel, c.world, rank);
      Tensor out;
      {
        CommDebugMode mode;
        out = parallel(batch.local);
        sum(out).backward();
        opt_parallel.step();
        EXPECT_EQ(mode.counts_by_name(CommPhase::Forward), expected_forward) << when;
        EXPECT_EQ(mode.counts_by_name(CommPhase::Backward), expected_backward) << when;
        EXPECT_EQ(mode.counts_by_name(CommPhase::Optimizer), Counts{}) << when;
      }
      const Tensor expected = single(batch.global);
      sum(expected).backward();
      expect_same(out, sequence_parallel ? expected.narrow(0, kBatch * rank, kBatch) : expected,
                  when + ": output");
      expect_grads_match(parallel, single, when);
      opt_single.step();
      expect_parameters_match(parallel, single, when + ", after the step");
      opt_single.zero_grad();
      opt_parallel.zero_grad();
    }
  });
}

TEST(TpExamples, MlpTrainingAllReducesOnceInTotal) {
  for (const MlpCase& c : kMlpCases) {
    train_mlp(c, /*sequence_parallel=*/false, Counts{{"all_reduce", 1}}, Counts{});
  }
}

TEST(TpExamples, MlpTrainingWithSequenceParallelGathersTwiceAndScattersOnce) {
  // Forward: all_gather of the batch into net1, reduce_scatter of net2's Partial output;
  // backward: all_gather of the output gradient (the input needs no gradient).
  for (const MlpCase& c : kMlpCases) {
    train_mlp(c, /*sequence_parallel=*/true, Counts{{"all_gather", 1}, {"reduce_scatter", 1}},
              Counts{{"all_gather", 1}});
  }
}

TEST(TpExamples, MlpInferenceUnderNoGradMatchesSingleDevice) {
  for (const MlpCase& c : kMlpCases) {
    sim::run(c.world, [&](int) {
      DeviceMesh mesh({c.world});
      Generator gen_single(5), gen_parallel(5);
      nn::MLP single(kFeatures, c.hidden, kFeatures, true, gen_single);
      nn::MLP parallel(kFeatures, c.hidden, kFeatures, true, gen_parallel);
      parallelize_module(parallel, mesh, mlp_plan(false, c.local_output));
      NoGradGuard no_grad;
      Generator gen(0);
      const Tensor x = rand({kBatch, kFeatures}, gen);
      CommDebugMode mode;
      const Tensor out = parallel(x);
      EXPECT_EQ(mode.counts_by_name(), (Counts{{"all_reduce", 1}})) << describe(c);
      EXPECT_FALSE(out.requires_grad()) << describe(c);
      expect_same(out, single(x), describe(c) + ": output");
    });
  }
}

// PyTorch's weight-tying module: Embedding(16, 8) (seed 1) feeding Linear(8, 16) (seed 2).
// Colwise shards the embedding's weight [16, 8] on dim 1 and Rowwise the linear's weight
// [16, 8] on dim 1 too, so the two can be tied after parallelization.
class EmbeddingThenLinear : public nn::Module {
 public:
  explicit EmbeddingThenLinear(DType dtype) {
    Generator gen_embedding(1), gen_fc(2);
    embedding =
        register_module("embedding", std::make_shared<nn::Embedding>(16, 8, gen_embedding, dtype));
    fc = register_module("fc", std::make_shared<nn::Linear>(8, 16, true, gen_fc, dtype));
  }
  std::string type_name() const override { return "EmbeddingThenLinear"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& inputs) override {
    return {(*fc)((*embedding)(single_input(inputs)))};
  }
  void tie() { fc->set_parameter("weight", embedding->parameter("weight")); }

  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::Linear> fc;
};

TEST(TpExamples, WeightTyingSharesOneParameterAndOneGradient) {
  for (int world : {2, 3, 4}) {
    sim::run(world, [world](int) {
      DeviceMesh mesh({world});
      EmbeddingThenLinear single(DType::Float64), parallel(DType::Float64);
      // 8 embedding columns split 3, 3, 2 on 3 ranks: the embedding's output stays a DTensor.
      parallelize_module(parallel, mesh,
                         {{"embedding", ColwiseParallel({.use_local_output = world != 3})},
                          {"fc", RowwiseParallel()}});
      Generator gen(0);
      const Tensor tokens = tp_examples::randint(16, {5}, gen);

      sum(parallel(tokens)).backward();
      const DTensor embedding_weight(parallel.embedding->parameter("weight"));
      const DTensor fc_weight(parallel.fc->parameter("weight"));
      EXPECT_FALSE(equal(embedding_weight.to_local(), fc_weight.to_local()));
      EXPECT_FALSE(
          equal(DTensor(embedding_weight.grad()).to_local(), DTensor(fc_weight.grad()).to_local()));

      parallel.tie();
      single.tie();
      parallel.zero_grad();
      EXPECT_EQ(parallel.fc->parameter("weight").impl(),
                parallel.embedding->parameter("weight").impl());
      ASSERT_EQ(parallel.named_parameters().size(), 2u);  // embedding.weight, fc.bias
      Tensor out;
      {
        CommDebugMode mode;
        out = parallel(tokens);
        sum(out).backward();
        EXPECT_EQ(mode.counts_by_name(CommPhase::Forward), (Counts{{"all_reduce", 1}}));
        EXPECT_EQ(mode.counts_by_name(CommPhase::Backward), Counts{});
      }
      const Tensor tied_grad = parallel.embedding->parameter("weight").grad();
      ASSERT_TRUE(tied_grad.defined());
      EXPECT_EQ(parallel.fc->parameter("weight").grad().impl(), tied_grad.impl());

      const Tensor expected = single(tokens);
      sum(expected).backward();
      expect_same(out, expected, cat("W=", world, " tied output"));
      expect_grads_match(parallel, single, cat("W=", world, " tied"));
    });
  }
}

}  // namespace
}  // namespace tensorpar
