// The memory model: the reference Transformer's exact parameter count (against the model built
// on the meta device), local parameters under the TP plan, Korthikanti's activation formulas on
// hand-computed cases, and Korthikanti et al.'s Figure 1 (errors printed, loose bounds).
#include <gtest/gtest.h>

#include <cstdio>

#include "core/cost/memory_model.h"
#include "core/nn/transformer.h"
#include "core/tensor/meta_device.h"
#include "support/expect_error.h"

namespace tensorpar::cost {
namespace {

using testing::expect_error;
constexpr double kGiB = 1073741824.0;

std::int64_t built_parameters(const ModelShape& m) {
  const DeviceGuard on_meta(meta_device());
  nn::ModelArgs args;
  args.n_layers = m.layers;
  args.dim = m.hidden;
  args.n_heads = m.heads;
  args.max_seq_len = m.seq;
  args.vocab_size = m.vocab;
  nn::Transformer model(args);
  std::int64_t count = 0;
  for (const Tensor& p : model.parameters()) count += p.numel();
  return count;
}

TEST(MemoryModelParameters, EqualTheReferenceTransformersCount) {
  for (const ModelShape& m :
       {ModelShape{2, 16, 4, 16, 8}, ModelShape{3, 24, 3, 7, 11}, ModelShape{1, 8, 2, 5, 50257},
        ModelShape{96, 12288, 96, 2048, 50257}}) {
    EXPECT_EQ(m.parameters(), built_parameters(m))
        << "layers " << m.layers << " hidden " << m.hidden << " vocab " << m.vocab;
  }
  // GPT-3's dimensions: 174.56 B, Narayanan's 12 l h^2 (1 + 13/(12h) + (V + s)/(12 l h)) less
  // 4 h per layer (no biases on the attention projections): 174.56e9.
  EXPECT_EQ(
      (ModelShape{96, 12288, 96, 2048, 50257}).parameters(),
      50257ll * 12288 + 2048ll * 12288 + 96ll * (12ll * 12288 * 12288 + 9 * 12288) + 2 * 12288);
}

TEST(MemoryModelParameters, AreShardedAsThePlanShardsThem) {
  // layers 2, h 16, vocab 10, seq 7 at t = 3: rank 0 holds ceil(10/3) = 4 vocab rows, ceil(7/3) =
  // 3 positions, 6 of 16 columns of wq..wo (4 x 16 x 6), 22 of 64 rows of w1 and columns of w2
  // (2 x 16 x 22) and 22 of w1's bias, w2's bias (16) and the norms (4 x 16) whole.
  ParallelConfig plan;
  plan.tp = 3;
  plan.dtype = DType::Float32;
  const double local = 4 * 16 + 3 * 16 + 2 * (4 * 16 * 6 + 2 * 16 * 22 + 22 + 16 + 4 * 16) + 2 * 16;
  MemoryBreakdown m = memory_per_gpu({2, 16, 4, 7, 10}, plan);
  EXPECT_DOUBLE_EQ(m.parameters, local * 4);
  EXPECT_DOUBLE_EQ(m.gradients, local * 4);
  EXPECT_DOUBLE_EQ(m.optimizer, local * 8);  // f32 Adam: two moments
  plan.tp = 1;
  EXPECT_DOUBLE_EQ(memory_per_gpu({2, 16, 4, 7, 10}, plan).parameters,
                   4.0 * (ModelShape{2, 16, 4, 7, 10}).parameters());
}

TEST(MemoryModelParameters, MixedPrecisionAdamKeepsTwelveBytesOfFp32State) {
  ParallelConfig plan;  // bf16
  MemoryBreakdown m = memory_per_gpu({2, 16, 4, 8, 8}, plan);
  const double n = double((ModelShape{2, 16, 4, 8, 8}).parameters());
  EXPECT_DOUBLE_EQ(m.parameters, 2 * n);
  EXPECT_DOUBLE_EQ(m.gradients, 2 * n);
  EXPECT_DOUBLE_EQ(m.optimizer, 12 * n);
  plan.gradient_element_bytes = 4;  // Megatron's fp32 gradient accumulation
  EXPECT_DOUBLE_EQ(memory_per_gpu({2, 16, 4, 8, 8}, plan).gradients, 4 * n);
}

// Korthikanti's 22B: h 6144, 64 heads, 48 layers, s 2048, vocab 51200; t = 8, micro-batch 4.
const ModelShape k22b{48, 6144, 64, 2048, 51200};

ParallelConfig tp8(bool sp, Recompute r) {
  ParallelConfig p;
  p.tp = 8;
  p.micro_batch = 4;
  p.sequence_parallel = sp;
  p.recompute = r;
  return p;
}

TEST(MemoryModelActivations, FollowKorthikantisFormulas) {
  const double sbh = 2048.0 * 4 * 6144;
  // No SP: s b h (10 + 24/8 + 5 x 64 x 2048 / (6144 x 8)) = s b h x 26.33 = 1.3254 GB.
  EXPECT_NEAR(activation_bytes_per_layer(k22b, tp8(false, Recompute::None)),
              sbh * (13 + 5.0 * 64 * 2048 / (6144 * 8)), 1);
  // SP: s b h (34 + 5 x 64 x 2048 / 6144) / 8.
  EXPECT_NEAR(activation_bytes_per_layer(k22b, tp8(true, Recompute::None)),
              sbh * (34 + 5.0 * 64 * 2048 / 6144) / 8, 1);
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(k22b, tp8(true, Recompute::Selective)), 34 * sbh / 8);
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(k22b, tp8(false, Recompute::Selective)), 13 * sbh);
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(k22b, tp8(false, Recompute::Full)), 2 * sbh);
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(k22b, tp8(true, Recompute::Full)), 2 * sbh / 8);
  ParallelConfig f32 = tp8(true, Recompute::Selective);
  f32.dtype = DType::Float32;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(k22b, f32), 2 * 34 * sbh / 8);
}

TEST(MemoryModelActivations, AddTheEmbeddingOutputAndTheLogits) {
  // SP + selective: 48 layers x 34 s b h / 8 + s b h x 2 / 8 + b s (V / 8) x (2 + 4).
  const double sbh = 2048.0 * 4 * 6144;
  MemoryBreakdown m = memory_per_gpu(k22b, tp8(true, Recompute::Selective));
  EXPECT_DOUBLE_EQ(m.activations, 48 * 34 * sbh / 8 + sbh * 2 / 8 + 4 * 2048.0 * 6400 * 6);
  // Full recompute keeps each layer's input and, during one layer's recompute, its whole set.
  MemoryBreakdown full = memory_per_gpu(k22b, tp8(false, Recompute::Full));
  EXPECT_DOUBLE_EQ(full.activations,
                   48 * 2 * sbh + activation_bytes_per_layer(k22b, tp8(false, Recompute::None)) +
                       sbh * 2 + 4 * 2048.0 * 6400 * 6);
}

TEST(MemoryModelActivations, ErrorsNameTheValue) {
  ParallelConfig p;
  p.tp = 0;
  expect_error<std::invalid_argument>([&] { memory_per_gpu(k22b, p); }, "tp must be >= 1, got 0");
  expect_error<std::invalid_argument>(
      [&] {
        memory_per_gpu({0, 8, 2, 4, 4}, {});
      },
      "layers must be >= 1, got 0");
}

double percent(double model, double published) { return (model / published - 1) * 100; }

// Korthikanti et al. 2022, Figure 1 (GiB per GPU, in the cost-model facts). 22B ran at t = 8,
// p = 1, micro-batch 4: the same configuration as here. Their parameters + optimizer count
// Megatron's 18 bytes per parameter (fp32 gradients) and, it appears, only the transformer
// layers; this model adds the embeddings (1.5% more).
TEST(MemoryModelPublished, Korthikanti22B) {
  ParallelConfig plan = tp8(false, Recompute::None);
  plan.gradient_element_bytes = 4;
  MemoryBreakdown none = memory_per_gpu(k22b, plan);
  MemoryBreakdown selective = memory_per_gpu(k22b, tp8(true, Recompute::Selective));
  const double state = (none.parameters + none.gradients + none.optimizer) / kGiB;
  std::printf("22B t=8: parameters+optimizer %.2f GiB (Figure 1: 45.56, %+.1f%%)\n", state,
              percent(state, 45.56));
  std::printf(
      "22B t=8: activations %.2f GiB without SP/recompute (59.25, %+.1f%%), %.2f GiB with "
      "SP + selective (9.56, %+.1f%%)\n",
      none.activations / kGiB, percent(none.activations / kGiB, 59.25),
      selective.activations / kGiB, percent(selective.activations / kGiB, 9.56));
  EXPECT_NEAR(state, 45.56, 0.1 * 45.56);
  EXPECT_NEAR(none.activations / kGiB, 59.25, 0.1 * 59.25);
  EXPECT_NEAR(selective.activations / kGiB, 9.56, 0.1 * 9.56);
}

// 175B (h 12288, 96 heads, 96 layers) ran at t = 8 with p = 8 pipeline stages, micro-batch 1.
// Parameters + optimizer: one stage holds 12 of the 96 layers; compared here is a 12-layer model
// at t = 8 (with the embeddings, as the first stage has them). Activations: under 1F1B the first
// stage keeps p micro-batches of its L / p layers, i.e. L layers' worth, which is what the 96-layer
// model at t = 8 holds; Figure 1 is 1.29x that, the in-flight micro-batches of their interleaved
// schedule (1 + (p - 1) / (p m) with m = 3 model chunks per GPU gives 1.292), which this model of
// a schedule without pipeline parallelism does not hold. Reported, bounded loosely.
TEST(MemoryModelPublished, Korthikanti175B) {
  const ModelShape stage{12, 12288, 96, 2048, 51200}, gpt3{96, 12288, 96, 2048, 51200};
  ParallelConfig plan;
  plan.tp = 8;
  plan.gradient_element_bytes = 4;
  MemoryBreakdown s = memory_per_gpu(stage, plan);
  const double state = (s.parameters + s.gradients + s.optimizer) / kGiB;
  ParallelConfig sp = plan;
  sp.sequence_parallel = true;
  sp.recompute = Recompute::Selective;
  const double none = 96 * activation_bytes_per_layer(gpt3, plan) / kGiB;
  const double selective = 96 * activation_bytes_per_layer(gpt3, sp) / kGiB;
  std::printf(
      "175B t=8 (a 12-layer stage): parameters+optimizer %.2f GiB (Figure 1: 45.56, %+.1f%%)\n",
      state, percent(state, 45.56));
  std::printf(
      "175B t=8: 96 layers' activations %.2f GiB without SP/recompute (66.84, %+.1f%%), "
      "%.2f GiB with SP + selective (12.35, %+.1f%%)\n",
      none, percent(none, 66.84), selective, percent(selective, 12.35));
  EXPECT_NEAR(state, 45.56, 0.1 * 45.56);
  EXPECT_GT(none, 0.6 * 66.84);
  EXPECT_LT(none, 1.05 * 66.84);
  EXPECT_GT(selective, 0.6 * 12.35);
  EXPECT_LT(selective, 1.05 * 12.35);
}

}  // namespace
}  // namespace tensorpar::cost
