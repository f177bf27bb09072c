// loss_parallel: PyTorch's test_loss_parallel (test_tp_examples.py) at W = 4, 2 and 3 (16 classes
// on 3 ranks are 6, 6, 4), the log_softmax gradients of pytorch/pytorch#190746, and the scope.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/loss_parallel_hooks.h"
#include "core/tensor/philox.h"
#include "sim/world.h"
#include "styles/loss_parallel.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using testing::expect_error;
using Counts = std::map<std::string, std::int64_t>;

constexpr std::int64_t kClasses = 16;
constexpr DType kF64 = DType::Float64;
const int kWorlds[] = {4, 2, 3};
const Reduction kReductions[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

struct Case {
  Shape input;
  Shape target;
};
const std::vector<Case> kCases = {{{8, 16}, {8}}, {{8, 16, 12}, {8, 12}}};

// Classes (7i + 3) mod C, with every fifth position set to `ignore`.
Tensor targets(const Shape& shape, std::int64_t classes, std::int64_t ignore = -100) {
  std::vector<std::int64_t> t(std::size_t(numel(shape)));
  for (std::size_t i = 0; i < t.size(); ++i) {
    t[i] = i % 5 == 4 ? ignore : std::int64_t(7 * i + 3) % classes;
  }
  return from_vector(t, shape);
}

// A scalar to call backward() on: the loss itself, or its sum for reduction none.
Tensor scalar_of(const Tensor& loss, Reduction r) {
  return r == Reduction::None ? sum(loss) : loss;
}

Tensor local(const Tensor& t) { return DTensor(t.detach()).to_local(); }

bool close(const Tensor& a, const Tensor& b, double tol = 1e-12) {
  return allclose(a, b, tol, tol);
}

struct Reference {
  Tensor loss;
  Tensor grad;
};

Reference single_device_cross_entropy(const Tensor& x, const Tensor& target,
                                      const CrossEntropyOptions& options) {
  Tensor leaf = x.clone().requires_grad_();
  Tensor loss = cross_entropy(leaf, target, options);
  scalar_of(loss, options.reduction).backward();
  return {loss.detach(), leaf.grad()};
}

DTensor sharded_leaf(const Tensor& x, const DeviceMesh& mesh, const Placements& placements) {
  DTensor d = distribute_tensor(x, mesh, placements);
  d.requires_grad_();
  return d;
}

// Runs body(mesh, x, target, options) on W ranks for every case of PyTorch's test: inputs (8,16)
// and (8,16,12), without and with a weight rand(16), each reduction, some targets ignored.
template <class F>
void for_each_case(int world, F body) {
  sim::run(world, [&](int) {
    DeviceMesh mesh({world});
    Generator gen(7);
    const Tensor weight = rand({kClasses}, gen, kF64);
    for (const Case& c : kCases) {
      const Tensor x = randn(c.input, gen, kF64);
      const Tensor target = targets(c.target, kClasses);
      for (bool weighted : {false, true}) {
        for (Reduction r : kReductions) {
          SCOPED_TRACE(cat("W=", world, " input ", shape_text(c.input), " weighted=", weighted,
                           " reduction=", reduction_name(r)));
          body(mesh, x, target, CrossEntropyOptions{weighted ? weight : Tensor(), -100, r});
        }
      }
    }
  });
}

TEST(LossParallel, CrossEntropyForwardIsThreeAllReducesAndEqualsSingleDevice) {
  for (int world : kWorlds) {
    for_each_case(world, [](const DeviceMesh& mesh, const Tensor& x, const Tensor& target,
                            const CrossEntropyOptions& options) {
      const Reference ref = single_device_cross_entropy(x, target, options);
      DTensor logits = sharded_leaf(x, mesh, {Shard(1)});
      auto scope = loss_parallel();
      CommDebugMode mode;
      const DTensor loss(cross_entropy(logits, target, options));
      EXPECT_EQ(mode.counts_by_name(), (Counts{{"all_reduce", 3}}));
      EXPECT_EQ(loss.placements(), (Placements{Replicate()}));
      EXPECT_EQ(loss.shape(), ref.loss.shape());
      EXPECT_TRUE(close(local(loss), ref.loss)) << max_abs_diff(local(loss), ref.loss);
    });
  }
}

TEST(LossParallel, CrossEntropyBackwardHasNoCollectivesAndShardsTheGradient) {
  for (int world : kWorlds) {
    for_each_case(world, [](const DeviceMesh& mesh, const Tensor& x, const Tensor& target,
                            const CrossEntropyOptions& options) {
      const Reference ref = single_device_cross_entropy(x, target, options);
      DTensor logits = sharded_leaf(x, mesh, {Shard(1)});
      auto scope = loss_parallel();
      Tensor loss = cross_entropy(logits, target, options);
      CommDebugMode mode;
      scalar_of(loss, options.reduction).backward();
      EXPECT_EQ(mode.counts_by_name(), Counts{});
      const DTensor grad(logits.grad());
      EXPECT_EQ(grad.placements(), (Placements{Shard(1)}));
      EXPECT_TRUE(close(grad.full_tensor(), ref.grad));
    });
  }
}

TEST(LossParallel, LogitsShardedOffTheClassDimAreRejected) {
  for_each_case(3, [](const DeviceMesh& mesh, const Tensor& x, const Tensor& target,
                      const CrossEntropyOptions& options) {
    auto scope = loss_parallel();
    for (std::int64_t dim = 0; dim < x.dim(); ++dim) {
      if (dim == 1) continue;
      DTensor logits = distribute_tensor(x, mesh, {Shard(dim)});
      expect_error<std::invalid_argument>([&] { cross_entropy(logits, target, options); },
                                          "loss_parallel");
    }
    DTensor replica = distribute_tensor(x, mesh, {Replicate()});
    expect_error<std::invalid_argument>(
        [&] { cross_entropy(replica, target, options); },
        "loss_parallel() should be enabled only when the input tensor is sharded on dimension 1");
  });
}

TEST(LossParallel, MultiDimensionalMeshIsRejected) {
  sim::run(4, [] {
    DeviceMesh mesh({2, 2});
    Generator gen(1);
    DTensor logits = distribute_tensor(randn({8, 16}, gen, kF64), mesh, {Replicate(), Shard(1)});
    auto scope = loss_parallel();
    expect_error<std::invalid_argument>(
        [&] { cross_entropy(logits, targets({8}, kClasses)); },
        "Currently loss_parallel() only supports input on one-dimensional DeviceMesh.");
  });
}

// log_softmax + nll_loss is differentiated as one op, like cross_entropy: the log_softmax node
// never runs in backward.
TEST(LossParallel, LogSoftmaxThenNllLossCostsWhatCrossEntropyCosts) {
  for (int world : kWorlds) {
    for_each_case(world, [](const DeviceMesh& mesh, const Tensor& x, const Tensor& target,
                            const CrossEntropyOptions& options) {
      const Reference ref = single_device_cross_entropy(x, target, options);
      DTensor logits = sharded_leaf(x, mesh, {Shard(1)});
      auto scope = loss_parallel();
      CommDebugMode forward;
      Tensor loss = nll_loss(log_softmax(logits, 1), target, options);
      EXPECT_EQ(forward.counts_by_name(), (Counts{{"all_reduce", 3}}));
      EXPECT_TRUE(close(local(loss), ref.loss));
      CommDebugMode backward;
      scalar_of(loss, options.reduction).backward();
      EXPECT_EQ(backward.counts_by_name(), Counts{});
      const DTensor grad(logits.grad());
      EXPECT_EQ(grad.placements(), (Placements{Shard(1)}));
      EXPECT_TRUE(close(grad.full_tensor(), ref.grad));
    });
  }
}

// pytorch/pytorch#190746: a log_softmax output with a use besides nll_loss. Its gradient there
// is ones, and d/dx sum(log_softmax(x)) = 1 - C * softmax(x), not the identity's 1.
TEST(LossParallel, LogSoftmaxWithAnotherUseGetsTheTrueGradient) {
  for (int world : kWorlds) {
    for_each_case(world, [](const DeviceMesh& mesh, const Tensor& x, const Tensor& target,
                            const CrossEntropyOptions& options) {
      Tensor leaf = x.clone().requires_grad_();
      Tensor lp = log_softmax(leaf, 1);
      add(scalar_of(nll_loss(lp, target, options), options.reduction), sum(lp)).backward();
      DTensor logits = sharded_leaf(x, mesh, {Shard(1)});
      auto scope = loss_parallel();
      Tensor dlp = log_softmax(logits, 1);
      Tensor loss = add(scalar_of(nll_loss(dlp, target, options), options.reduction), sum(dlp));
      CommDebugMode backward;
      loss.backward();
      EXPECT_EQ(backward.counts_by_name(), (Counts{{"all_reduce", 1}}));
      EXPECT_TRUE(close(DTensor(logits.grad()).full_tensor(), leaf.grad()));
    });
  }
}

// docs/loss_parallel.md's example: x = [0, ln 3], one class per rank; d/dx sum(log_softmax(x))
// is 1 - 2 * softmax(x) = [1/2, -1/2] (an identity backward would give [1, 1]).
TEST(LossParallel, LogSoftmaxGradientOfTheWorkedExample) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    DTensor x = sharded_leaf(from_vector<double>({0.0, std::log(3.0)}, {2}), mesh, {Shard(0)});
    auto scope = loss_parallel();
    sum(log_softmax(x, 0)).backward();
    EXPECT_TRUE(close(DTensor(x.grad()).full_tensor(), from_vector<double>({0.5, -0.5}, {2})));
  });
}

// log_softmax alone, along the sharded dim, with an arbitrary incoming gradient: 2 all_reduces
// forward, 1 backward, the single-device gradient.
TEST(LossParallel, LogSoftmaxAloneGetsTheTrueGradient) {
  for (int world : kWorlds) {
    sim::run(world, [world] {
      DeviceMesh mesh({world});
      Generator gen(3);
      for (auto [shape, dim] : std::vector<std::pair<Shape, std::int64_t>>{
               {{16}, 0}, {{8, 16}, 1}, {{8, 16, 12}, 1}, {{8, 5, 12}, 2}}) {
        SCOPED_TRACE(cat("W=", world, " shape ", shape_text(shape), " dim ", dim));
        const Tensor x = randn(shape, gen, kF64);
        const Tensor g = randn(shape, gen, kF64);
        Tensor leaf = x.clone().requires_grad_();
        Tensor ref = log_softmax(leaf, dim);
        ref.backward(g);
        DTensor logits = sharded_leaf(x, mesh, {Shard(dim)});
        auto scope = loss_parallel();
        CommDebugMode forward;
        const DTensor y(log_softmax(logits, dim));
        EXPECT_EQ(forward.counts_by_name(), (Counts{{"all_reduce", 2}}));
        EXPECT_EQ(y.placements(), (Placements{Shard(dim)}));
        EXPECT_TRUE(close(y.full_tensor(), ref.detach()));
        const DTensor dg = distribute_tensor(g, mesh, {Shard(dim)});
        CommDebugMode backward;
        y.backward(dg);
        EXPECT_EQ(backward.counts_by_name(), (Counts{{"all_reduce", 1}}));
        EXPECT_TRUE(close(DTensor(logits.grad()).full_tensor(), leaf.grad()));
      }
    });
  }
}

// Log-probabilities that did not come from log_softmax: one all_reduce (the target lookup), and
// the gradient of nll_loss alone, still without collectives.
TEST(LossParallel, NllLossOnShardedLogProbsIsOneAllReduce) {
  for_each_case(3, [](const DeviceMesh& mesh, const Tensor& x, const Tensor& target,
                      const CrossEntropyOptions& options) {
    Tensor leaf = x.clone().requires_grad_();
    Tensor ref = nll_loss(leaf, target, options);
    scalar_of(ref, options.reduction).backward();
    DTensor lp = sharded_leaf(x, mesh, {Shard(1)});
    auto scope = loss_parallel();
    CommDebugMode forward;
    Tensor loss = nll_loss(lp, target, options);
    EXPECT_EQ(forward.counts_by_name(), (Counts{{"all_reduce", 1}}));
    EXPECT_TRUE(close(local(loss), ref.detach()));
    CommDebugMode backward;
    scalar_of(loss, options.reduction).backward();
    EXPECT_EQ(backward.counts_by_name(), Counts{});
    EXPECT_TRUE(close(DTensor(lp.grad()).full_tensor(), leaf.grad()));
  });
}

TEST(LossParallel, ReplicateDTensorTargetAndWeightEqualPlainOnes) {
  for_each_case(3, [](const DeviceMesh& mesh, const Tensor& x, const Tensor& target,
                      const CrossEntropyOptions& options) {
    const Reference ref = single_device_cross_entropy(x, target, options);
    CrossEntropyOptions dist_options = options;
    if (options.weight.defined()) {
      dist_options.weight = distribute_tensor(options.weight, mesh, {Replicate()});
    }
    DTensor logits = sharded_leaf(x, mesh, {Shard(1)});
    const DTensor dist_target = distribute_tensor(target, mesh, {Replicate()});
    auto scope = loss_parallel();
    CommDebugMode mode;
    Tensor loss = cross_entropy(logits, dist_target, dist_options);
    EXPECT_EQ(mode.counts_by_name(), (Counts{{"all_reduce", 3}}));
    EXPECT_TRUE(close(local(loss), ref.loss));
    scalar_of(loss, options.reduction).backward();
    EXPECT_TRUE(close(DTensor(logits.grad()).full_tensor(), ref.grad));
  });
}

TEST(LossParallel, TargetOrWeightNotReplicatedOnTheMeshIsRejected) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    Generator gen(1);
    DTensor logits = distribute_tensor(randn({8, 16}, gen, kF64), mesh, {Shard(1)});
    const Tensor target = targets({8}, kClasses);
    auto scope = loss_parallel();
    expect_error<std::invalid_argument>(
        [&] { cross_entropy(logits, distribute_tensor(target, mesh, {Shard(0)})); },
        "cross_entropy: loss_parallel() expects a replicated target, got placements [S(0)]");
    const DTensor weight = distribute_tensor(rand({16}, gen, kF64), mesh, {Shard(0)});
    expect_error<std::invalid_argument>(
        [&] { cross_entropy(logits, target, {.weight = weight}); },
        "cross_entropy: loss_parallel() expects a replicated weight, got placements [S(0)]");
    const DeviceMesh reversed = DeviceMesh::from_ranks({2}, {1, 0});
    const DTensor elsewhere = distribute_tensor(target, reversed, {Replicate()});
    expect_error<std::invalid_argument>([&] { nll_loss(logits, elsewhere); },
                                        "nll_loss: target lives on DeviceMesh([1, 0])");
  });
}

TEST(LossParallel, BadTargetsAreRejectedBeforeAnyCollective) {
  sim::run(3, [] {
    DeviceMesh mesh({3});
    Generator gen(1);
    DTensor logits = distribute_tensor(randn({4, 16}, gen, kF64), mesh, {Shard(1)});
    auto scope = loss_parallel();
    CommDebugMode mode;
    expect_error<std::invalid_argument>(
        [&] {
          cross_entropy(logits, from_vector<std::int64_t>({0, 16, 2, 3}, {4}));
        },
        "cross_entropy: target 16 is out of range for 16 classes");
    expect_error<std::invalid_argument>([&] { nll_loss(logits, targets({5}, kClasses)); },
                                        "nll_loss: target shape [5] does not match input shape");
    expect_error<std::invalid_argument>(
        [&] { cross_entropy(logits, zeros({4}, kF64)); },
        "cross_entropy: target must be int64 class indices, got float64");
    EXPECT_EQ(mode.total_count(), 0);
  });
}

// ignore_index may name a real class; 5 classes over 4 ranks leave rank 3 without classes; a
// 1-D input (C) with a 0-d target is one position.
TEST(LossParallel, UnusualShapesAndIgnoreIndexEqualSingleDevice) {
  sim::run(4, [] {
    DeviceMesh mesh({4});
    Generator gen(5);
    struct Shapes {
      Shape input, target;
      std::int64_t ignore;
    };
    for (const Shapes& s : std::vector<Shapes>{
             {{6, 16}, {6}, 3}, {{7, 5, 3}, {7, 3}, -100}, {{5}, {}, -100}, {{16}, {}, -100}}) {
      const Tensor x = randn(s.input, gen, kF64);
      const std::int64_t classes = s.input.size() == 1 ? s.input[0] : s.input[1];
      const Tensor target = s.target.empty() ? from_vector<std::int64_t>({classes - 1}, {})
                                             : targets(s.target, classes, s.ignore);
      for (Reduction r : kReductions) {
        SCOPED_TRACE(cat(shape_text(s.input), " ignore ", s.ignore, " ", reduction_name(r)));
        const CrossEntropyOptions options{.ignore_index = s.ignore, .reduction = r};
        const Reference ref = single_device_cross_entropy(x, target, options);
        DTensor logits = sharded_leaf(x, mesh, {Shard(s.input.size() == 1 ? 0 : 1)});
        auto scope = loss_parallel();
        Tensor loss = cross_entropy(logits, target, options);
        scalar_of(loss, r).backward();
        EXPECT_TRUE(close(local(loss), ref.loss));
        EXPECT_TRUE(close(DTensor(logits.grad()).full_tensor(), ref.grad));
      }
    }
  });
}

TEST(LossParallel, Float32MatchesSingleDeviceWithinRounding) {
  sim::run(3, [] {
    DeviceMesh mesh({3});
    Generator gen(9);
    const Tensor x = randn({8, 16, 12}, gen, DType::Float32);
    const Tensor target = targets({8, 12}, kClasses);
    const CrossEntropyOptions options{.weight = rand({16}, gen, DType::Float32)};
    const Reference ref = single_device_cross_entropy(x, target, options);
    DTensor logits = sharded_leaf(x, mesh, {Shard(1)});
    auto scope = loss_parallel();
    Tensor loss = cross_entropy(logits, target, options);
    loss.backward();
    EXPECT_TRUE(close(local(loss), ref.loss, 1e-6));
    EXPECT_TRUE(close(DTensor(logits.grad()).full_tensor(), ref.grad, 1e-6));
  });
}

// The Transformer's loss: logits (b*s, vocab) from an output projection sharded by vocab rows
// (Colwise: x (R) @ w (S(0))ᵀ gives S(-1)), reshaped from (b, s, vocab).
TEST(LossParallel, TransformerShapedLogitsFromAColwiseProjection) {
  sim::run(3, [] {
    DeviceMesh mesh({3});
    Generator gen(11);
    const Tensor h = randn({4, 6, 8}, gen, kF64);
    const Tensor w = randn({10, 8}, gen, kF64);
    const Tensor target = targets({24}, 10);
    Tensor ref_h = h.clone().requires_grad_();
    Tensor ref_w = w.clone().requires_grad_();
    Tensor ref = cross_entropy(linear(ref_h, ref_w).reshape({24, 10}), target);
    ref.backward();
    DTensor dh = sharded_leaf(h, mesh, {Replicate()});
    DTensor dw = sharded_leaf(w, mesh, {Shard(0)});
    auto scope = loss_parallel();
    CommDebugMode forward;
    const DTensor logits(linear(dh, dw).reshape({24, 10}));
    EXPECT_EQ(logits.placements(), (Placements{Shard(1)}));
    Tensor loss = cross_entropy(logits, target);
    EXPECT_EQ(forward.counts_by_name(), (Counts{{"all_reduce", 3}}));
    EXPECT_TRUE(close(local(loss), ref.detach()));
    CommDebugMode backward;
    loss.backward();
    EXPECT_EQ(backward.counts_by_name(), Counts{});
    EXPECT_TRUE(close(DTensor(dw.grad()).full_tensor(), ref_w.grad()));
    EXPECT_TRUE(close(DTensor(dh.grad()).full_tensor(), ref_h.grad()));
  });
}

TEST(LossParallel, BackwardOutsideTheScopeStillHasNoCollectives) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    Generator gen(2);
    const Tensor x = randn({8, 16}, gen, kF64);
    const Tensor target = targets({8}, kClasses);
    const Reference ref = single_device_cross_entropy(x, target, {});
    DTensor logits = sharded_leaf(x, mesh, {Shard(1)});
    Tensor loss;
    {
      auto scope = loss_parallel();
      loss = cross_entropy(logits, target);
    }
    CommDebugMode backward;
    loss.backward();
    EXPECT_EQ(backward.counts_by_name(), Counts{});
    EXPECT_TRUE(close(DTensor(logits.grad()).full_tensor(), ref.grad));
  });
}

TEST(LossParallel, ScopeRestoresThePlainPathAfterAnException) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    Generator gen(4);
    const Tensor x = randn({8, 16}, gen, kF64);
    const Tensor target = targets({8}, kClasses);
    try {
      auto scope = loss_parallel();
      EXPECT_TRUE(loss_parallel_enabled());
      throw std::runtime_error("inside the scope");
    } catch (const std::runtime_error&) {
    }
    EXPECT_FALSE(loss_parallel_enabled());
    EXPECT_EQ(active_loss_parallel_handlers(), nullptr);
    DTensor logits = distribute_tensor(x, mesh, {Shard(1)});
    CommDebugMode mode;
    Tensor loss = cross_entropy(logits, target);
    EXPECT_EQ(mode.counts_by_name(), (Counts{{"all_gather", 1}}));  // the replicating rule
    EXPECT_TRUE(close(local(loss), cross_entropy(x, target)));
  });
}

TEST(LossParallel, ScopesNestAndEachRestoresThePreviousState) {
  sim::run(2, [] {
    DeviceMesh mesh({2});
    Generator gen(6);
    DTensor logits = distribute_tensor(randn({8, 16}, gen, kF64), mesh, {Shard(1)});
    const Tensor target = targets({8}, kClasses);
    auto count = [&] {
      CommDebugMode mode;
      cross_entropy(logits, target);
      return mode.counts_by_name();
    };
    {
      auto outer = loss_parallel();
      {
        auto inner = loss_parallel();
        EXPECT_EQ(count(), (Counts{{"all_reduce", 3}}));
      }
      EXPECT_TRUE(loss_parallel_enabled());
      EXPECT_EQ(count(), (Counts{{"all_reduce", 3}}));
    }
    EXPECT_FALSE(loss_parallel_enabled());
    EXPECT_EQ(count(), (Counts{{"all_gather", 1}}));
  });
}

TEST(LossParallel, ScopeIsPerRank) {
  sim::run(2, [](int rank) {
    if (rank == 0) {
      auto scope = loss_parallel();
      EXPECT_TRUE(loss_parallel_enabled());
    } else {
      EXPECT_FALSE(loss_parallel_enabled());
    }
  });
}

TEST(LossParallel, PlainTensorsUnderTheScopeBehaveAsBefore) {
  Generator gen(8);
  const Tensor x = randn({8, 16, 12}, gen, kF64);
  const Tensor target = targets({8, 12}, kClasses);
  auto run = [&] {
    Tensor leaf = x.clone().requires_grad_();
    Tensor a = cross_entropy(leaf, target);
    Tensor b = nll_loss(log_softmax(leaf, 1), target, {.reduction = Reduction::Sum});
    add(a, b).backward();
    return std::vector<Tensor>{a.detach(), b.detach(), leaf.grad()};
  };
  const std::vector<Tensor> before = run();
  auto scope = loss_parallel();
  CommDebugMode mode;
  const std::vector<Tensor> under = run();
  EXPECT_EQ(mode.total_count(), 0);
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(equal(under[i], before[i])) << i;
}

}  // namespace
}  // namespace tensorpar
