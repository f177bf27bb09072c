// The autograd engine on plain tensors: gradients, accumulation, no-grad, detach, errors, and
// that a step's graph and saved tensors are freed by backward.
#include <gtest/gtest.h>

#include "core/autograd/autograd.h"
#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using testing::expect_error;

Tensor values(std::vector<double> v, Shape shape) { return from_vector<double>(v, shape); }

TEST(Autograd, ChainOfOpsGivesAnalyticGradient) {
  // loss = sum((x * w + 1)^2) -> dloss/dw = 2 (x w + 1) x
  Tensor x = values({1, 2, 3}, {3});
  Tensor w = values({0.5, -1, 2}, {3}).requires_grad_();
  Tensor loss = sum(pow(x * w + 1.0, 2.0));
  EXPECT_EQ(loss.item(), 1.5 * 1.5 + 1.0 + 49.0);
  loss.backward();
  EXPECT_EQ(to_vector<double>(w.grad()), (std::vector<double>{3.0, -4.0, 42.0}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, TensorUsedTwiceAccumulates) {
  Tensor w = values({2, 3}, {2}).requires_grad_();
  Tensor y = sum(w * w + w);  // d/dw = 2w + 1
  y.backward();
  EXPECT_EQ(to_vector<double>(w.grad()), (std::vector<double>{5, 7}));
  // A second backward adds into the existing grad.
  sum(w * 2.0).backward();
  EXPECT_EQ(to_vector<double>(w.grad()), (std::vector<double>{7, 9}));
}

TEST(Autograd, BroadcastGradientsAreReducedToTheOperandShape) {
  Tensor x = values({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor b = values({10, 20, 30}, {3}).requires_grad_();
  sum(x + b).backward();
  EXPECT_EQ(to_vector<double>(b.grad()), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(to_vector<double>(x.grad()), std::vector<double>(6, 1.0));
}

TEST(Autograd, BackwardWithExplicitGradOutput) {
  Tensor x = values({1, 2}, {2}).requires_grad_();
  Tensor y = x * 3.0;
  y.backward(values({1, 10}, {2}));
  EXPECT_EQ(to_vector<double>(x.grad()), (std::vector<double>{3, 30}));
}

TEST(Autograd, NoGradRecordsNothingAndDetachCutsTheGraph) {
  Tensor w = values({1, 2}, {2}).requires_grad_();
  {
    NoGradGuard no_grad;
    Tensor y = w * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  Tensor d = (w * 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  Tensor y = w * 2.0;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn()->name(), "mulBackward");
}

TEST(Autograd, Errors) {
  expect_error<std::invalid_argument>([] { sum(ones({2}, DType::Float64)).backward(); },
                                      "does not require grad and does not have a grad_fn");
  Tensor w = ones({2}, DType::Float64).requires_grad_();
  expect_error<std::invalid_argument>([&] { (w * 2.0).backward(); },
                                      "grad can be implicitly created only for scalar outputs");
  expect_error<std::invalid_argument>([&] { (w * 2.0).requires_grad_(false); },
                                      "only leaf tensors can change requires_grad");
  expect_error<std::invalid_argument>([] { arange(3).requires_grad_(); },
                                      "only floating point tensors can require gradients");
  expect_error<std::invalid_argument>([&] { (w * 2.0).backward(ones({3}, DType::Float64)); },
                                      "gradient 0 has shape [3] but the tensor has shape [2]");
}

TEST(Autograd, GraphAndSavedTensorsAreFreedAfterBackward) {
  Generator gen(1);
  Tensor w = randn({64, 64}, gen, DType::Float64).requires_grad_();
  Tensor x = randn({32, 64}, gen, DType::Float64);
  auto step = [&] {
    Tensor h = relu(matmul(x, w));
    Tensor loss = mean(softmax(h, -1) * h);
    loss.backward();
  };
  step();  // w.grad now exists
  const std::size_t before = cpu_bytes_in_use();
  step();
  EXPECT_EQ(cpu_bytes_in_use(), before);
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Tensor w = values({1, 2}, {2}).requires_grad_();
  Tensor y = sum(exp(w));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_NEAR(to_vector<double>(w.grad())[1], 2 * std::exp(2.0), 1e-12);
}

}  // namespace
}  // namespace tensorpar
