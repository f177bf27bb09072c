// The vocab-parallel loss pieces (gather_class, class_weights, scatter_class_add_): the worked
// examples of their header, agreement with the single-device loss kernels when the classes are
// split unevenly (torch.chunk: 16 classes on 3 ranks are 6, 6, 4; 5 on 4 are 2, 2, 1, 0), and
// the messages for bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/kernels/backend.h"
#include "core/kernels/loss.h"
#include "core/kernels/softmax.h"
#include "core/kernels/vocab_parallel.h"
#include "core/ops/ops.h"
#include "core/tensor/philox.h"
#include "support/expect_error.h"

namespace tensorpar::kernels {
namespace {

using ::testing::ElementsAre;
using testing::expect_error;

constexpr DType kF64 = DType::Float64;

// The [offset, size) of every rank's classes under torch.chunk.
std::vector<std::pair<std::int64_t, std::int64_t>> chunks(std::int64_t classes, int world) {
  const std::int64_t each = (classes + world - 1) / world;
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (int r = 0; r < world; ++r) {
    const std::int64_t off = std::min<std::int64_t>(r * each, classes);
    out.emplace_back(off, std::min<std::int64_t>(each, classes - off));
  }
  return out;
}

// Classes (7i + 3) mod C, every fifth position `ignore`.
Tensor targets(const Shape& shape, std::int64_t classes, std::int64_t ignore) {
  std::vector<std::int64_t> t(std::size_t(numel(shape)));
  for (std::size_t i = 0; i < t.size(); ++i) {
    t[i] = i % 5 == 4 ? ignore : std::int64_t(7 * i + 3) % classes;
  }
  return from_vector(t, shape);
}

TEST(KernelVocabParallel, GatherClassOfTheWorkedExample) {
  // Rank 1 of 5 classes on 2 ranks holds classes 3 and 4.
  const Tensor values = from_vector<double>({30, 40, 31, 41, 32, 42}, {3, 2});
  const Tensor target = from_vector<std::int64_t>({4, 0, 3}, {3});
  EXPECT_THAT(to_vector<double>(gather_class(values, target, 3, 5, -100)),
              ElementsAre(40, 0, 32));
  // An ignored target is 0 even where its class is owned.
  const Tensor ignored = from_vector<std::int64_t>({4, 0, 3}, {3});
  EXPECT_THAT(to_vector<double>(gather_class(values, ignored, 3, 5, 3)), ElementsAre(40, 0, 0));
}

TEST(KernelVocabParallel, ClassWeightsOfTheWorkedExample) {
  const Tensor target = from_vector<std::int64_t>({2, -100, 0}, {3});
  EXPECT_THAT(to_vector<double>(class_weights(target, from_vector<double>({1, 2, 3}, {3}), 3,
                                              -100, kF64)),
              ElementsAre(3, 0, 1));
  EXPECT_THAT(to_vector<float>(class_weights(target, Tensor(), 3, -100, DType::Float32)),
              ElementsAre(1, 0, 1));
}

TEST(KernelVocabParallel, ScatterClassAddOfTheWorkedExample) {
  Tensor out = zeros({2, 2}, kF64);
  scatter_class_add_(out, from_vector<std::int64_t>({3, 0}, {2}), from_vector<double>({-5, -7}, {2}),
                     2, -100);
  EXPECT_THAT(to_vector<double>(out), ElementsAre(0, -5, 0, 0));
}

// Per shard: the sum over ranks of gather_class(log_probs) weighted by class_weights is the
// single-device nll_loss; exp(log_probs) * a plus scatter_class_add_(-a) is its
// cross_entropy_backward, and zeros plus the scatter its nll_loss_backward.
void expect_matches_single_device(const Shape& shape, int world, std::int64_t ignore,
                                  bool weighted) {
  SCOPED_TRACE(cat(shape_text(shape), " on ", world, " ranks, ignore ", ignore,
                   weighted ? ", weighted" : ""));
  Generator gen(11);
  const std::int64_t cdim = shape.size() == 1 ? 0 : 1;
  const std::int64_t C = shape[std::size_t(cdim)];
  const Tensor x = randn(shape, gen, kF64);
  const Tensor weight = weighted ? rand({C}, gen, kF64) : Tensor();
  Shape tshape = shape;
  tshape.erase(tshape.begin() + cdim);
  const Tensor target = tshape.empty() ? from_vector<std::int64_t>({C - 1}, {})
                                       : targets(tshape, C, ignore);
  const Tensor lp = kernels::log_softmax(x, cdim);
  const CrossEntropyResult ref = kernels::nll_loss(lp, target, weight, ignore, Reduction::None);
  const Tensor g = randn(tshape, gen, kF64);
  const Tensor dx_ref =
      kernels::cross_entropy_backward(g, lp, target, weight, ignore, Reduction::None, Tensor());
  const Tensor dnll_ref =
      kernels::nll_loss_backward(g, target, weight, ignore, Reduction::None, Tensor(), shape, kF64);

  const Tensor w = class_weights(target, weight, C, ignore, kF64);
  EXPECT_TRUE(allclose(tensorpar::sum(w), ref.total_weight, 1e-12, 1e-12));
  const Tensor a = w * g;
  Shape stat = shape;
  stat[std::size_t(cdim)] = 1;
  Tensor picked = zeros(tshape, kF64);
  std::vector<Tensor> dx_parts, dnll_parts;
  for (const auto& [off, n] : chunks(C, world)) {
    const Tensor shard = lp.narrow(cdim, off, n);
    picked = picked + gather_class(shard, target, off, C, ignore);
    Tensor dx = tensorpar::exp(shard) * tensorpar::reshape(a, stat);
    scatter_class_add_(dx, target, -a, off, ignore);
    Tensor dnll = zeros(shard.shape(), kF64);
    scatter_class_add_(dnll, target, -a, off, ignore);
    if (n > 0) {
      dx_parts.push_back(dx);
      dnll_parts.push_back(dnll);
    }
  }
  EXPECT_TRUE(allclose(-w * picked, ref.loss, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(tensorpar::cat(dx_parts, cdim), dx_ref, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(tensorpar::cat(dnll_parts, cdim), dnll_ref, 1e-12, 1e-12));
}

TEST(KernelVocabParallel, UnevenShardsMatchTheSingleDeviceLosses) {
  for (bool weighted : {false, true}) {
    expect_matches_single_device({8, 16}, 3, -100, weighted);
    expect_matches_single_device({8, 16, 12}, 3, -100, weighted);
    expect_matches_single_device({7, 5, 3}, 4, -100, weighted);  // rank 3 holds no class
    expect_matches_single_device({6, 16}, 4, 3, weighted);       // ignore_index names a class
    expect_matches_single_device({5}, 4, -100, weighted);        // one position, 0-d target
  }
}

TEST(KernelVocabParallel, BadInputIsRejectedWithItsName) {
  const Tensor values = zeros({4, 6}, kF64);
  const Tensor target = from_vector<std::int64_t>({0, 16, 2, 3}, {4});
  expect_error<std::invalid_argument>([&] { gather_class(values, target, 0, 16, -100); },
                                      "gather_class: target 16 is out of range for 16 classes");
  expect_error<std::invalid_argument>(
      [&] { class_weights(target, Tensor(), 16, -100, kF64, "cross_entropy"); },
      "cross_entropy: target 16 is out of range for 16 classes");
  expect_error<std::invalid_argument>(
      [&] { gather_class(values, zeros({4}, kF64), 0, 16, -100); },
      "gather_class: target must be int64, got float64");
  expect_error<std::invalid_argument>(
      [&] { gather_class(values, from_vector<std::int64_t>({0, 1}, {2}), 0, 16, -100); },
      "gather_class: target shape [2] does not match values shape [4, 6] (expected [4])");
  expect_error<std::invalid_argument>(
      [&] { gather_class(values, from_vector<std::int64_t>({0, 1, 2, 3}, {4}), 12, 16, -100); },
      "gather_class: local classes [12, 18) exceed 16 classes");
  expect_error<std::invalid_argument>(
      [&] { gather_class(zeros({4, 6}, DType::Int64), target, 0, 16, -100); },
      "gather_class: values dtype int64 is not supported");
  expect_error<std::invalid_argument>(
      [&] { class_weights(target, zeros({15}, kF64), 16, -100, kF64); },
      "class_weights: weight has shape [15], expected [16] (one per class)");
  expect_error<std::invalid_argument>(
      [&] { class_weights(target, zeros({16}, DType::Float32), 16, -100, kF64); },
      "class_weights: weight dtype float32 does not match dtype float64");
  Tensor out = zeros({4, 6}, kF64);
  expect_error<std::invalid_argument>(
      [&] { scatter_class_add_(out, target, zeros({3}, kF64), 0, -100); },
      "scatter_class_add_: src shape [3] must match target shape [4]");
  expect_error<std::invalid_argument>(
      [&] { scatter_class_add_(out, target, zeros({4}, DType::Float32), 0, -100); },
      "scatter_class_add_: dtypes differ: src is float32, out is float64");
  expect_error<std::invalid_argument>([&] { scatter_class_add_(out, target, Tensor(), 0, -100); },
                                      "scatter_class_add_: src is undefined");
  // Out-of-range targets are not this kernel's to judge: nobody owns them.
  scatter_class_add_(out, target, from_vector<double>({1, 2, 3, 4}, {4}), 0, -100);
  EXPECT_THAT(to_vector<double>(tensorpar::sum(out, 1)), ElementsAre(1, 0, 3, 4));
}

TEST(KernelVocabParallel, ADeviceWithoutTheEntriesSaysSo) {
  KernelBackend bare("standin");
  Tensor x = zeros({2, 3}, kF64);
  const Tensor t = zeros({2}, DType::Int64);
  expect_error<std::runtime_error>([&] { bare.gather_class(x, t, 0, 3, -100, "gather_class"); },
                                   "standin does not support gather_class");
  expect_error<std::runtime_error>(
      [&] { bare.class_weights(t, Tensor(), 3, -100, kF64, "class_weights"); },
      "standin does not support class_weights");
  expect_error<std::runtime_error>([&] { bare.scatter_class_add_(x, t, t, 0, -100); },
                                   "standin does not support scatter_class_add_");
}

}  // namespace
}  // namespace tensorpar::kernels
