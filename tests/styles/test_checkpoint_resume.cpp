// Resuming from a sharded checkpoint on another layout continues the run exactly: the reference
// Transformer trained 10 steps at W = 4 (Adam, dropout), saved, loaded into a freshly built model
// (drawn from another seed, so every value it ends with comes from the checkpoint) at W = 2, 1
// and 3 (the vocab of 10 splits unevenly: 3,3,3,1 at W = 4, 4,3,3 at W = 3), with and without
// sequence parallel, and trained 10 more steps has the losses of an uninterrupted 20-step run at
// W = 4: to 1e-12 in float64, the train command's 1e-3 relative in float32. Runs again on the
// stand-in device (ctest label device-seam): every byte then reaches the files through the
// device interface.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/nn/transformer.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/tensor/philox.h"
#include "sim/world.h"
#include "styles/transformer_plan.h"
#include "support/temp_folder.h"

namespace tensorpar {
namespace {

constexpr int kSaveWorld = 4;
constexpr int kSteps = 20;
constexpr int kSaveAt = 10;
constexpr std::int64_t kBatch = 4, kSeq = 12;

nn::ModelArgs resume_args(DType dtype, std::uint64_t seed) {
  nn::ModelArgs args;
  args.vocab_size = 10;
  args.dim = 24;
  args.n_heads = 12;
  args.max_seq_len = kSeq;
  args.dropout_p = 0.1;
  args.seed = seed;
  args.dtype = dtype;
  return args;
}

// Steps [from, to) of the task: random tokens and targets drawn per step, the mean cross-entropy.
std::vector<double> train(nn::Transformer& model, optim::Adam& opt, int from, int to) {
  std::vector<double> losses;
  const std::int64_t vocab = model.tok_embeddings->parameter("weight").shape()[0];
  for (int step = from; step < to; ++step) {
    Generator gen(1000 + std::uint64_t(step));
    auto draw = [&](const Shape& shape) {
      const std::vector<double> u = to_vector<double>(rand(shape, gen, DType::Float64));
      std::vector<std::int64_t> v;
      for (double x : u) v.push_back(std::min<std::int64_t>(vocab - 1, std::int64_t(x * vocab)));
      return from_vector<std::int64_t>(v, shape);
    };
    const Tensor tokens = draw({kBatch, kSeq});
    const Tensor targets = draw({kBatch * kSeq});
    Tensor loss = cross_entropy(reshape(model(tokens), {kBatch * kSeq, vocab}), targets);
    loss.backward();
    opt.step();
    opt.zero_grad();
    losses.push_back(loss.item());
  }
  return losses;
}

struct Layout {
  int world;
  bool sequence_parallel;
};

// A model built on the calling rank, parallelized over all of the world when it has ranks.
struct Run {
  nn::Transformer model;
  optim::Adam opt;
  Run(const nn::ModelArgs& args, const Layout& layout)
      : model(args), opt((parallelize(model, layout), model.parameters()), {.lr = 0.02}) {}
  static int parallelize(nn::Transformer& model, const Layout& layout) {
    if (layout.world > 1) {
      parallelize_transformer(model, DeviceMesh({layout.world}),
                              {.sequence_parallel = layout.sequence_parallel});
    }
    return 0;
  }
};

std::vector<double> uninterrupted(DType dtype) {
  return sim::run(kSaveWorld, [&](int) {
    manual_seed(5);
    Run run(resume_args(dtype, 0), {kSaveWorld, false});
    return train(run.model, run.opt, 0, kSteps);
  })[0];
}

std::vector<double> resumed(DType dtype, const Layout& load, const std::string& dir) {
  sim::run(kSaveWorld, [&](int) {
    manual_seed(5);
    Run run(resume_args(dtype, 0), {kSaveWorld, !load.sequence_parallel});
    train(run.model, run.opt, 0, kSaveAt);
    checkpoint::save_checkpoint(dir, run.model, &run.opt,
                                checkpoint::TrainingState::capture(kSaveAt));
  });
  auto body = [&] {
    Run run(resume_args(dtype, 99), load);
    const checkpoint::TrainingState state = checkpoint::load_checkpoint(dir, run.model, &run.opt);
    EXPECT_EQ(state.step, kSaveAt);
    state.restore_rng();
    return train(run.model, run.opt, int(state.step), kSteps);
  };
  if (load.world == 1) return body();
  return sim::run(load.world, [&](int) { return body(); })[0];
}

class CheckpointResume : public ::testing::TestWithParam<std::tuple<DType, Layout>> {};

TEST_P(CheckpointResume, LossesEqualTheUninterruptedRun) {
  const auto [dtype, layout] = GetParam();
  const testing::TempFolder folder;
  const std::vector<double> whole = uninterrupted(dtype);
  const std::vector<double> tail = resumed(dtype, layout, folder / "ckpt");
  ASSERT_EQ(tail.size(), std::size_t(kSteps - kSaveAt));
  double worst = 0;
  for (int i = 0; i < kSteps - kSaveAt; ++i) {
    const double expected = whole[std::size_t(kSaveAt + i)];
    const double diff = std::abs(tail[std::size_t(i)] - expected);
    worst = std::max(worst, diff);
    if (dtype == DType::Float64) {
      EXPECT_NEAR(tail[std::size_t(i)], expected, 1e-12) << "step " << kSaveAt + i;
    } else {
      EXPECT_NEAR(tail[std::size_t(i)], expected, 1e-3 * std::abs(expected))
          << "step " << kSaveAt + i;
    }
  }
  RecordProperty("max_abs_loss_diff", cat(worst));
}

std::string describe(const ::testing::TestParamInfo<std::tuple<DType, Layout>>& info) {
  const auto [dtype, layout] = info.param;
  return std::string(dtype == DType::Float64 ? "f64" : "f32") + "_W4to" +
         std::to_string(layout.world) + (layout.sequence_parallel ? "_SP" : "");
}

INSTANTIATE_TEST_SUITE_P(Layouts, CheckpointResume,
                         ::testing::Combine(::testing::Values(DType::Float64, DType::Float32),
                                            ::testing::Values(Layout{2, false}, Layout{2, true},
                                                              Layout{1, false}, Layout{3, false},
                                                              Layout{3, true})),
                         describe);

}  // namespace
}  // namespace tensorpar
