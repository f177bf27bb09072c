// The reference Transformer: shapes, names, weight tying, determinism, causality, heads at run
// time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/nn/transformer.h"
#include "support/expect_error.h"

namespace tensorpar::nn {
namespace {

using ::testing::ElementsAreArray;
using testing::expect_error;

Tensor tokens(std::int64_t b, std::int64_t s, std::int64_t vocab, std::int64_t salt = 0) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(b * s));
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<std::int64_t>((i * 7 + 3 + salt) % static_cast<std::size_t>(vocab));
  }
  return from_vector<std::int64_t>(v, {b, s});
}

ModelArgs f64_args() {
  ModelArgs args;
  args.dtype = DType::Float64;
  args.seed = 42;
  return args;
}

TEST(NnTransformer, OutputIsBatchBySeqByVocab) {
  Transformer model;  // the reference defaults
  Tensor logits = model(tokens(3, 5, 8));
  EXPECT_EQ(logits.shape(), (Shape{3, 5, 8}));
  EXPECT_EQ(logits.dtype(), DType::Float32);
}

TEST(NnTransformer, ParameterNamesMatchTheReferenceModel) {
  Transformer model;
  std::vector<std::string> expected = {"tok_embeddings.weight", "pos_embeddings.weight"};
  for (int i = 0; i < 2; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    for (const char* name :
         {"attention_norm.weight", "attention_norm.bias", "attention.wq.weight",
          "attention.wk.weight", "attention.wv.weight", "attention.wo.weight", "ffn_norm.weight",
          "ffn_norm.bias", "feed_forward.w1.weight", "feed_forward.w1.bias",
          "feed_forward.w2.weight", "feed_forward.w2.bias"}) {
      expected.push_back(p + name);
    }
  }
  expected.push_back("norm.weight");
  expected.push_back("norm.bias");
  // output.weight is tok_embeddings.weight: listed once, under the first name.
  std::vector<std::string> fqns;
  for (auto& [name, t] : model.named_parameters()) fqns.push_back(name);
  EXPECT_THAT(fqns, ElementsAreArray(expected));

  EXPECT_EQ(model.get_parameter("layers.1.feed_forward.w1.weight").shape(), (Shape{64, 16}));
  EXPECT_EQ(model.get_parameter("layers.0.attention.wq.weight").shape(), (Shape{16, 16}));
  EXPECT_EQ(model.get_parameter("pos_embeddings.weight").shape(), (Shape{16, 16}));
  EXPECT_FALSE(model.get_submodule("layers.0.attention.wq").parameter("bias").defined());
  EXPECT_EQ(model.get_submodule("layers.0.feed_forward.gelu").type_name(), "GELU");
  EXPECT_EQ(model.get_submodule("layers.1.attention.resid_dropout").type_name(), "Dropout");
}

TEST(NnTransformer, UntiedModelListsTheOutputWeight) {
  ModelArgs args;
  args.weight_tying = false;
  Transformer model(args);
  auto named = model.named_parameters();
  EXPECT_EQ(named.back().first, "output.weight");
  EXPECT_EQ(named.back().second.shape(), (Shape{8, 16}));
}

TEST(NnTransformer, TiedWeightIsOneTensorWithOneGradient) {
  Transformer tied(f64_args());
  EXPECT_EQ(tied.output->parameter("weight").impl(),
            tied.tok_embeddings->parameter("weight").impl());

  // An untied model from the same seed, its output weight set to a copy of the embedding: the
  // tied gradient is the sum of the untied model's two gradients.
  ModelArgs untied_args = f64_args();
  untied_args.weight_tying = false;
  Transformer untied(untied_args);
  untied.output->set_parameter(
      "weight", untied.tok_embeddings->parameter("weight").detach().clone().requires_grad_(true));
  tied.eval();
  untied.eval();
  Tensor x = tokens(2, 6, 8);
  Tensor lt = tied(x);
  Tensor lu = untied(x);
  EXPECT_LT(max_abs_diff(lt, lu), 1e-12);
  sum(mul(lt, lt)).backward();
  sum(mul(lu, lu)).backward();
  Tensor expected = add(untied.tok_embeddings->parameter("weight").grad(),
                        untied.output->parameter("weight").grad());
  EXPECT_LT(max_abs_diff(tied.tok_embeddings->parameter("weight").grad(), expected), 1e-10);
  EXPECT_EQ(tied.output->parameter("weight").grad().impl(),
            tied.tok_embeddings->parameter("weight").grad().impl());
}

TEST(NnTransformer, EvalModeIsDeterministicAndTrainingModeDropsOut) {
  Transformer model(f64_args());  // dropout_p 0.1
  Tensor x = tokens(2, 8, 8);
  model.eval();
  Tensor a = model(x);
  Tensor b = model(x);
  EXPECT_TRUE(equal(a, b));
  model.train();
  Tensor c = model(x);
  EXPECT_GT(max_abs_diff(a, c), 1e-6);
}

TEST(NnTransformer, SameSeedBuildsIdenticalModels) {
  Transformer a(f64_args()), b(f64_args());
  ModelArgs other = f64_args();
  other.seed = 43;
  Transformer c(other);
  auto pa = a.named_parameters(), pb = b.named_parameters(), pc = c.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(equal(pa[i].second, pb[i].second)) << pa[i].first;
  }
  EXPECT_FALSE(equal(pa[0].second, pc[0].second));
  a.eval();
  b.eval();
  EXPECT_TRUE(equal(a(tokens(1, 4, 8)), b(tokens(1, 4, 8))));
}

TEST(NnTransformer, CausalMaskHidesLaterTokens) {
  Transformer model(f64_args());
  model.eval();
  Tensor x = tokens(1, 6, 8);
  std::vector<std::int64_t> changed = to_vector<std::int64_t>(x);
  changed[5] = (changed[5] + 1) % 8;
  Tensor y1 = model(x);
  Tensor y2 = model(from_vector<std::int64_t>(changed, {1, 6}));
  // Positions 0..4 see only tokens 0..4; position 5 changes.
  EXPECT_LT(max_abs_diff(y1.narrow(1, 0, 5), y2.narrow(1, 0, 5)), 1e-12);
  EXPECT_GT(max_abs_diff(y1.narrow(1, 5, 1), y2.narrow(1, 5, 1)), 1e-6);
}

TEST(NnTransformer, WithoutMaskEveryPositionSeesEveryToken) {
  ModelArgs args = f64_args();
  args.use_attn_mask = false;
  Transformer model(args);
  model.eval();
  Tensor x = tokens(1, 6, 8);
  std::vector<std::int64_t> changed = to_vector<std::int64_t>(x);
  changed[5] = (changed[5] + 1) % 8;
  Tensor y1 = model(x);
  Tensor y2 = model(from_vector<std::int64_t>(changed, {1, 6}));
  EXPECT_GT(max_abs_diff(y1.narrow(1, 0, 1), y2.narrow(1, 0, 1)), 1e-9);
}

// What tensor parallelism with local attention outputs does: wq/wk/wv return only some heads and
// wo takes the matching input columns. The attention of two halves of the heads sums to the
// attention of all heads, so the head count must come from the projections at run time.
TEST(NnTransformer, AttentionTakesItsHeadCountFromTheProjections) {
  ModelArgs args = f64_args();
  Generator gen(1);
  Attention attn(args, gen);  // dim 16, 4 heads of 4
  attn.eval();
  Generator xg(2);
  Tensor x = randn({2, 5, 16}, xg, DType::Float64);
  NoGradGuard no_grad;
  Tensor full = attn(x);
  const Tensor wo = attn.wo->parameter("weight");
  Tensor total;
  for (std::int64_t half = 0; half < 2; ++half) {
    std::vector<HookHandle> handles;
    for (auto* proj : {attn.wq.get(), attn.wk.get(), attn.wv.get()}) {
      handles.push_back(proj->register_forward_hook(
          [half](Module&, const ModuleInputs&,
                 const std::vector<Tensor>& out) -> std::optional<std::vector<Tensor>> {
            return std::vector<Tensor>{out[0].narrow(2, half * 8, 8)};
          }));
    }
    attn.wo->set_parameter("weight", wo.narrow(1, half * 8, 8));
    Tensor part = attn(x);
    EXPECT_EQ(part.shape(), (Shape{2, 5, 16}));
    total = total.defined() ? add(total, part) : part;
    for (auto& h : handles) h.remove();
  }
  attn.wo->set_parameter("weight", wo);
  EXPECT_LT(max_abs_diff(total, full), 1e-12);
}

TEST(NnTransformer, RejectsBadTokens) {
  Transformer model;
  expect_error<std::invalid_argument>([&] { model(tokens(1, 17, 8)); },
                                      "sequence length 17 exceeds max_seq_len 16");
  expect_error<std::invalid_argument>(
      [&] {
        model(ones({2, 3}));
      },
      "tokens must be an Int64 [batch, seq] tensor");
  ModelArgs bad;
  bad.n_heads = 3;
  expect_error<std::invalid_argument>([&] { Transformer m(bad); },
                                      "Attention: dim 16 is not divisible by n_heads 3");
}

}  // namespace
}  // namespace tensorpar::nn
