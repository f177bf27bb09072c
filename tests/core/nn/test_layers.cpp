// The standard layers: initialisation, forward values against hand computations, gradients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/nn/layers.h"
#include "support/expect_error.h"

namespace tensorpar::nn {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using testing::expect_error;
using ::testing::Pointwise;

std::vector<double> values(const Tensor& t) { return to_vector<double>(t); }

Tensor param(std::vector<double> v, Shape shape) {
  return from_vector<double>(v, shape).requires_grad_(true);
}

TEST(NnLayers, LinearHasPytorchShapesAndBoundedInit) {
  Generator gen(7);
  Linear fc(16, 4, true, gen);
  EXPECT_EQ(fc.parameter("weight").shape(), (Shape{4, 16}));
  EXPECT_EQ(fc.parameter("bias").shape(), (Shape{4}));
  EXPECT_TRUE(fc.parameter("weight").requires_grad());
  EXPECT_TRUE(fc.parameter("bias").requires_grad());
  const double bound = 1.0 / std::sqrt(16.0);  // 0.25
  for (const char* name : {"weight", "bias"}) {
    const auto v = values(fc.parameter(name));
    double lo = 1, hi = -1;
    for (double x : v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    EXPECT_GE(lo, -bound) << name;
    EXPECT_LT(hi, bound) << name;
    if (std::string(name) == "weight") {  // 64 draws spread over the range
      EXPECT_LT(lo, -bound / 2);
      EXPECT_GT(hi, bound / 2);
    }
  }
  // The generator advanced by what was drawn.
  EXPECT_GE(gen.offset(), 4u * 16u + 4u);
}

TEST(NnLayers, SameGeneratorStateGivesTheSameWeights) {
  Generator g1(11), g2(11), g3(12);
  Linear a(5, 3, true, g1), b(5, 3, true, g2), c(5, 3, true, g3);
  EXPECT_TRUE(equal(a.parameter("weight"), b.parameter("weight")));
  EXPECT_TRUE(equal(a.parameter("bias"), b.parameter("bias")));
  EXPECT_FALSE(equal(a.parameter("weight"), c.parameter("weight")));
}

TEST(NnLayers, LinearDefaultsToTheThreadsDefaultGenerator) {
  const Generator saved = default_generator();
  manual_seed(3);
  Linear a(4, 4);
  manual_seed(3);
  Linear b(4, 4);
  EXPECT_TRUE(equal(a.parameter("weight"), b.parameter("weight")));
  default_generator() = saved;
}

TEST(NnLayers, LinearForwardAndGradients) {
  Linear fc(2, 3, true, default_generator(), DType::Float64);
  fc.set_parameter("weight", param({1, 2, 3, 4, 5, 6}, {3, 2}));
  fc.set_parameter("bias", param({0.5, -0.5, 1}, {3}));
  Tensor x = from_vector<double>({1, -1, 2, 0}, {2, 2});
  Tensor y = fc(x);
  // Row [1, -1]: [1-2, 3-4, 5-6] + b; row [2, 0]: [2, 6, 10] + b.
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_THAT(values(y), ElementsAre(-0.5, -1.5, 0.0, 2.5, 5.5, 11.0));
  sum(y).backward();
  // d sum / dW[o, i] = sum over rows of x[:, i] = [3, -1]; d sum / db = 2.
  EXPECT_THAT(values(fc.parameter("weight").grad()), ElementsAre(3, -1, 3, -1, 3, -1));
  EXPECT_THAT(values(fc.parameter("bias").grad()), ElementsAre(2, 2, 2));
}

TEST(NnLayers, LinearAppliesToLeadingBatchDims) {
  Linear fc(3, 2, false, default_generator(), DType::Float64);
  fc.set_parameter("weight", param({1, 0, 0, 0, 1, 1}, {2, 3}));
  Tensor y = fc(from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 3}));
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_THAT(values(y), ElementsAre(1, 5, 4, 11, 7, 17, 10, 23));
}

TEST(NnLayers, EmbeddingPicksRowsAndAccumulatesRepeatedRows) {
  Embedding emb(4, 2, default_generator(), DType::Float64);
  EXPECT_EQ(emb.parameter("weight").shape(), (Shape{4, 2}));
  emb.set_parameter("weight", param({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2}));
  Tensor idx = from_vector<std::int64_t>({3, 1, 3}, {1, 3});
  Tensor y = emb(idx);
  EXPECT_EQ(y.shape(), (Shape{1, 3, 2}));
  EXPECT_THAT(values(y), ElementsAre(30, 31, 10, 11, 30, 31));
  sum(y).backward();
  EXPECT_THAT(values(emb.parameter("weight").grad()), ElementsAre(0, 0, 1, 1, 0, 0, 2, 2));
}

TEST(NnLayers, EmbeddingInitIsStandardNormal) {
  Generator gen(1);
  Embedding emb(200, 100, gen, DType::Float64);
  const auto v = values(emb.parameter("weight"));
  double mean = 0, sq = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) sq += (x - mean) * (x - mean);
  const double std = std::sqrt(sq / static_cast<double>(v.size()));
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(std, 1.0, 0.03);
}

TEST(NnLayers, LayerNormNormalisesTheLastDim) {
  LayerNorm ln(4, 1e-5, true, DType::Float64);
  EXPECT_THAT(values(ln.parameter("weight")), ElementsAre(1, 1, 1, 1));
  EXPECT_THAT(values(ln.parameter("bias")), ElementsAre(0, 0, 0, 0));
  Tensor y = ln(from_vector<double>({1, 2, 3, 4}, {1, 4}));
  // mean 2.5, biased variance 1.25.
  const double s = std::sqrt(1.25 + 1e-5);
  EXPECT_THAT(values(y), Pointwise(DoubleNear(1e-12), {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}));
  // loss = sum(y * c): d/dweight = c * xhat, d/dbias = c.
  Tensor c = from_vector<double>({1, 2, 3, 4}, {1, 4});
  sum(mul(y, c)).backward();
  EXPECT_THAT(values(ln.parameter("weight").grad()),
              Pointwise(DoubleNear(1e-12), {-1.5 / s, -1.0 / s, 1.5 / s, 6.0 / s}));
  EXPECT_THAT(values(ln.parameter("bias").grad()), ElementsAre(1, 2, 3, 4));
}

TEST(NnLayers, LayerNormWithoutAffineHasNoParameters) {
  LayerNorm ln(3, 1e-5, false);
  EXPECT_TRUE(ln.named_parameters().empty());
  Tensor y = ln(from_vector<float>({0, 3, 6}, {3}));
  EXPECT_NEAR(values(y)[2], 3.0 / std::sqrt(6.0 + 1e-5), 1e-5);
}

TEST(NnLayers, RMSNormScalesByTheRootMeanSquare) {
  RMSNorm norm(2, 1e-6, DType::Float64);
  norm.set_parameter("weight", param({1.0, 2.0}, {2}));
  Tensor y = norm(from_vector<double>({3, 4}, {2}));
  const double r = std::sqrt(12.5 + 1e-6);  // mean(9, 16)
  EXPECT_THAT(values(y), Pointwise(DoubleNear(1e-12), {3 / r, 8 / r}));
  sum(y).backward();
  EXPECT_THAT(values(norm.parameter("weight").grad()),
              Pointwise(DoubleNear(1e-12), {3 / r, 4 / r}));
  EXPECT_EQ(RMSNorm(5).parameter("weight").shape(), (Shape{5}));
}

TEST(NnLayers, DropoutIsIdentityInEvalAndScalesSurvivorsInTraining) {
  Generator gen(5);
  Dropout drop(0.5, &gen);
  Tensor x = ones({1000}, DType::Float64);
  drop.eval();
  EXPECT_TRUE(equal(drop(x), x));
  drop.train();
  const auto v = values(drop(x));
  int zeros_seen = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0.0 || e == 2.0) << e;
    zeros_seen += e == 0.0;
  }
  EXPECT_GT(zeros_seen, 400);
  EXPECT_LT(zeros_seen, 600);
  expect_error<std::invalid_argument>([] { Dropout(1.5); },
                                      "Dropout: p must be in [0, 1], got 1.5");
}

TEST(NnLayers, ActivationValues) {
  ReLU relu_layer;
  EXPECT_THAT(values(relu_layer(from_vector<double>({-1, 0, 2}, {3}))), ElementsAre(0, 0, 2));
  GELU exact;
  EXPECT_THAT(values(exact(from_vector<double>({1, -1, 0}, {3}))),
              Pointwise(DoubleNear(1e-12), {0.8413447460685429, -0.15865525393145707, 0.0}));
  GELU approx("tanh");
  EXPECT_NEAR(values(approx(from_vector<double>({1}, {1})))[0], 0.8411919906082768, 1e-12);
  expect_error<std::invalid_argument>([] { GELU("fast"); },
                                      "GELU: approximate must be 'none' or 'tanh', got 'fast'");
}

TEST(NnLayers, SequentialChainsItsModules) {
  auto fc = std::make_shared<Linear>(2, 2, false, default_generator(), DType::Float64);
  fc->set_parameter("weight", param({1, 0, 0, -1}, {2, 2}));
  Sequential seq({fc, std::make_shared<ReLU>()});
  EXPECT_EQ(seq.size(), 2u);
  EXPECT_EQ(seq.named_children()[1].first, "1");
  EXPECT_THAT(values(seq(from_vector<double>({3, 4}, {1, 2}))), ElementsAre(3, 0));
}

TEST(NnLayers, ModuleListIndexesAndChecksTypes) {
  ModuleList list({std::make_shared<ReLU>(), std::make_shared<Linear>(2, 2)});
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.named_children()[0].first, "0");
  EXPECT_NE(list.at<Linear>(1), nullptr);
  expect_error<std::invalid_argument>([&] { list.at<Linear>(0); }, "ModuleList: item 0 is a ReLU");
  expect_error<std::logic_error>([&] { list(ones({2})); }, "ModuleList is not callable");
}

TEST(NnLayers, MLPMatchesPytorchsMLPModule) {
  Generator gen(5);
  MLP mlp(10, 16, 10, true, gen, DType::Float64);
  std::vector<std::string> fqns;
  for (auto& [name, p] : mlp.named_parameters()) fqns.push_back(name);
  EXPECT_THAT(fqns, ElementsAre("net1.weight", "net1.bias", "net2.weight", "net2.bias"));
  EXPECT_EQ(mlp.get_parameter("net1.weight").shape(), (Shape{16, 10}));
  EXPECT_EQ(mlp.get_parameter("net2.weight").shape(), (Shape{10, 16}));
  EXPECT_EQ(mlp.get_submodule("relu").type_name(), "ReLU");
  Generator xg(9);
  Tensor x = randn({4, 10}, xg, DType::Float64);
  Tensor expected =
      linear(relu(linear(x, mlp.net1->parameter("weight"), mlp.net1->parameter("bias"))),
             mlp.net2->parameter("weight"), mlp.net2->parameter("bias"));
  Tensor y = mlp(x);
  EXPECT_TRUE(allclose(y, expected, 1e-12, 1e-12));
  sum(y).backward();
  for (auto& [name, p] : mlp.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

}  // namespace
}  // namespace tensorpar::nn
