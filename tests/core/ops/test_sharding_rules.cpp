// Sharding rules on the sim: for every combination of input placements on 1-D meshes of 2, 3
// and 4 ranks (uneven sizes included) and on a 2x2 mesh, forward values and gradients equal the
// single-device result (f64, tight tolerance). Key rules also have exact collective counts.
#include <gtest/gtest.h>

#include <functional>

#include "core/autograd.h"
#include "core/comm_debug_mode.h"
#include "core/dtensor.h"
#include "core/philox.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Input {
  Tensor value;        // global, f64 (or int64 for index inputs)
  bool differentiable;
};

// Candidate placements for a tensor of rank `ndim` on one mesh dim.
std::vector<Placement> candidates(std::int64_t ndim, bool differentiable) {
  std::vector<Placement> out = {Replicate()};
  for (std::int64_t d = 0; d < ndim; ++d) out.push_back(Shard(d));
  if (differentiable) out.push_back(Partial());
  return out;
}

std::vector<Placements> all_placements(std::int64_t ndim, bool differentiable,
                                       std::size_t mesh_ndim) {
  std::vector<Placements> out = {{}};
  for (std::size_t m = 0; m < mesh_ndim; ++m) {
    std::vector<Placements> next;
    for (const Placements& prefix : out) {
      for (const Placement& p : candidates(ndim, differentiable)) {
        Placements ps = prefix;
        ps.push_back(p);
        next.push_back(ps);
      }
    }
    out = next;
  }
  return out;
}

// Reference: outputs and input gradients of loss = sum(f(x) * weights) on one device.
struct Reference {
  Tensor out;
  std::vector<Tensor> grads;
  Tensor weights;
};

Reference reference(const OpFn& f, const std::vector<Input>& inputs) {
  std::vector<Tensor> leaves;
  for (const Input& in : inputs) {
    Tensor t = in.value.clone();
    if (in.differentiable) t.requires_grad_();
    leaves.push_back(t);
  }
  Reference r;
  r.out = f(leaves);
  Generator gen(99);
  r.weights = randn(r.out.shape(), gen, DType::Float64);
  sum(r.out * r.weights).backward();
  for (const Tensor& t : leaves) r.grads.push_back(t.grad());
  r.out = r.out.detach();
  return r;
}

// Runs every placement combination of the inputs on `mesh_shape`; returns the number of cases.
int check_rule(const OpFn& f, const std::vector<Input>& inputs, const Shape& mesh_shape,
               const std::string& label) {
  const Reference ref = reference(f, inputs);
  std::vector<std::vector<Placements>> choices;
  for (const Input& in : inputs) {
    choices.push_back(all_placements(in.value.dim(), in.differentiable, mesh_shape.size()));
  }
  std::vector<std::size_t> index(inputs.size(), 0);
  int cases = 0;
  const int world = int(numel(mesh_shape));
  while (true) {
    std::vector<Placements> combo;
    for (std::size_t i = 0; i < inputs.size(); ++i) combo.push_back(choices[i][index[i]]);
    ++cases;
    sim::run(world, [&](int) {
      DeviceMesh mesh(mesh_shape);
      std::vector<Tensor> xs;
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        DTensor d = distribute_tensor(inputs[i].value, mesh, combo[i]);
        if (inputs[i].differentiable) d.requires_grad_();
        xs.push_back(d);
      }
      std::string what = label + " mesh " + shape_str(mesh_shape) + " placements";
      for (const Placements& p : combo) what += " " + placements_str(p);
      Tensor out = f(xs);
      ASSERT_TRUE(out.is_distributed()) << what;
      const Tensor full = DTensor(out).full_tensor();
      EXPECT_TRUE(allclose(full, ref.out, 1e-12, 1e-12))
          << what << " forward differs by " << max_abs_diff(full, ref.out);
      DTensor w = distribute_tensor(ref.weights, mesh, Placements(mesh_shape.size(), Replicate()));
      sum(out * w).backward();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i].differentiable) continue;
        const Tensor g = xs[i].grad();
        ASSERT_TRUE(g.defined()) << what << " input " << i << " has no gradient";
        const Tensor gfull = DTensor(g).full_tensor();
        EXPECT_TRUE(allclose(gfull, ref.grads[i], 1e-11, 1e-11))
            << what << " gradient of input " << i << " (" << placements_str(DTensor(g).placements())
            << ") differs by " << max_abs_diff(gfull, ref.grads[i]);
      }
    });
    std::size_t k = 0;
    while (k < index.size() && ++index[k] == choices[k].size()) index[k++] = 0;
    if (k == index.size()) break;
  }
  return cases;
}

Tensor data(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::Float64);
}

void check_all_meshes(const OpFn& f, const std::vector<Input>& inputs, const std::string& label) {
  for (const Shape& mesh : {Shape{2}, Shape{3}, Shape{4}, Shape{2, 2}}) {
    EXPECT_GT(check_rule(f, inputs, mesh, label), 0);
  }
}

TEST(ShardingRules, Add) {
  check_all_meshes([](const auto& x) { return x[0] + x[1]; },
                   {{data({5, 3}, 1), true}, {data({5, 3}, 2), true}}, "add");
}

TEST(ShardingRules, MulWithBroadcastRow) {
  check_all_meshes([](const auto& x) { return x[0] * x[1]; },
                   {{data({5, 3}, 1), true}, {data({3}, 2), true}}, "mul");
}

TEST(ShardingRules, DivAndScalars) {
  check_all_meshes([](const auto& x) { return (x[0] * 2.0 - 1.0) / (exp(x[1]) + 1.0); },
                   {{data({7, 3}, 1), true}, {data({7, 3}, 2), true}}, "div");
}

TEST(ShardingRules, UnaryNonLinear) {
  check_all_meshes([](const auto& x) { return gelu(x[0], "tanh") + relu(x[0]) + silu(x[0]); },
                   {{data({5, 6}, 3), true}}, "unary");
}

TEST(ShardingRules, Linear) {
  check_all_meshes([](const auto& x) { return linear(x[0], x[1], x[2]); },
                   {{data({5, 6}, 1), true}, {data({7, 6}, 2), true}, {data({7}, 3), true}},
                   "linear");
}

TEST(ShardingRules, LinearBatched) {
  for (const Shape& mesh : {Shape{3}}) {
    check_rule([](const auto& x) { return linear(x[0], x[1]); },
               {{data({2, 5, 6}, 1), true}, {data({7, 6}, 2), true}}, mesh, "linear3d");
  }
}

TEST(ShardingRules, MatmulBatched) {
  check_all_meshes([](const auto& x) { return matmul(x[0], x[1]); },
                   {{data({3, 5, 4}, 1), true}, {data({3, 4, 6}, 2), true}}, "matmul");
}

TEST(ShardingRules, SoftmaxAndLogSoftmax) {
  check_all_meshes([](const auto& x) { return softmax(x[0], 1) + log_softmax(x[0], 0); },
                   {{data({5, 7}, 4), true}}, "softmax");
}

TEST(ShardingRules, LayerNormAndRmsNorm) {
  check_all_meshes(
      [](const auto& x) { return layer_norm(x[0], x[1], x[2]) + rms_norm(x[0], x[1]); },
      {{data({3, 5, 6}, 4), true}, {data({6}, 5), true}, {data({6}, 6), true}}, "norm");
}

TEST(ShardingRules, Embedding) {
  const Tensor idx = from_vector<std::int64_t>({0, 6, 2, 3, 6, 1, 4, 5, 0, 2}, {2, 5});
  check_all_meshes([](const auto& x) { return embedding(x[0], x[1]); },
                   {{data({7, 5}, 7), true}, {idx, false}}, "embedding");
}

TEST(ShardingRules, Reductions) {
  check_all_meshes([](const auto& x) {
    return sum(x[0], 1) + mean(x[0], 1) + max(x[0], 1) + mean(x[0], std::vector<std::int64_t>{0, 1}) ;
  }, {{data({5, 7}, 8), true}}, "reduce");
}

TEST(ShardingRules, ReshapeAndTranspose) {
  check_all_meshes([](const auto& x) {
    Tensor h = reshape(x[0], {2, 3, 4, 2});
    return transpose(h, 1, 2);
  }, {{data({2, 3, 8}, 9), true}}, "reshape");
}

TEST(ShardingRules, CrossEntropy) {
  const Tensor target = from_vector<std::int64_t>({0, 3, 2, 1, 3}, {5});
  check_all_meshes([](const auto& x) { return cross_entropy(x[0], x[1]); },
                   {{data({5, 4}, 10), true}, {target, false}}, "cross_entropy");
}

// ---- exact counts of the rules the parallel styles rely on ----

TEST(ShardingRuleCounts, ColwiseLinear) {
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    DTensor x = distribute_tensor(data({4, 6}, 1), mesh, {Replicate()});
    x.requires_grad_();
    DTensor w = distribute_tensor(data({9, 6}, 2), mesh, {Shard(0)});
    w.requires_grad_();
    CommDebugMode fwd;
    DTensor y(linear(x, w));
    EXPECT_EQ(fwd.total_count(), 0);
    EXPECT_EQ(y.placements(), (Placements{Shard(1)}));
    sum(y.to_local()).backward();
    EXPECT_EQ(DTensor(x.grad()).placements(), (Placements{Partial()}));
    EXPECT_EQ(DTensor(w.grad()).placements(), (Placements{Shard(0)}));
  });
}

TEST(ShardingRuleCounts, RowwiseLinearWithBiasIsPartialPlusPartitionedBias) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    DTensor x = distribute_tensor(data({4, 8}, 1), mesh, {Shard(1)});
    DTensor w = distribute_tensor(data({5, 8}, 2), mesh, {Shard(1)});
    DTensor b = distribute_tensor(data({5}, 3), mesh, {Replicate()});
    CommDebugMode fwd;
    DTensor y(linear(x, w, b));
    EXPECT_EQ(fwd.total_count(), 0);
    EXPECT_EQ(y.placements(), (Placements{Partial()}));
    DTensor r = y.redistribute({Shard(0)});
    EXPECT_EQ(fwd.count(CollectiveKind::ReduceScatter), 1);
    EXPECT_EQ(fwd.total_count(), 1);
  });
}

TEST(ShardingRuleCounts, SequenceShardedNormGivesPartialWeightGradient) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    DTensor x = distribute_tensor(data({2, 6, 4}, 1), mesh, {Shard(1)});
    DTensor w = distribute_tensor(ones({4}, DType::Float64), mesh, {Replicate()});
    w.requires_grad_();
    CommDebugMode comm;
    Tensor y = layer_norm(x, w);
    sum(DTensor(y).to_local()).backward();
    EXPECT_EQ(comm.total_count(), 0);
    EXPECT_EQ(DTensor(w.grad()).placements(), (Placements{Partial()}));
  });
}

TEST(ShardingRuleCounts, RowShardedEmbeddingIsAMaskedPartialLookup) {
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    DTensor w = distribute_tensor(data({7, 4}, 1), mesh, {Shard(0)});
    const Tensor idx = from_vector<std::int64_t>({0, 6, 3, 2}, {4});
    CommDebugMode comm;
    DTensor y(embedding(w, idx));
    EXPECT_EQ(comm.total_count(), 0);
    EXPECT_EQ(y.placements(), (Placements{Partial()}));
  });
}

TEST(ShardingRuleCounts, AttentionHeadsStayShardedThroughReshape) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    DTensor x = distribute_tensor(data({2, 5, 8}, 1), mesh, {Shard(2)});
    CommDebugMode comm;
    DTensor h(reshape(x, {2, 5, 4, 2}));
    EXPECT_EQ(h.placements(), (Placements{Shard(2)}));
    DTensor t(transpose(h, 1, 2));
    EXPECT_EQ(t.placements(), (Placements{Shard(1)}));
    EXPECT_EQ(comm.total_count(), 0);
  });
}

TEST(ShardingRuleCounts, MeanOverUnevenShardsIsExact) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    const Tensor v = data({1, 5}, 3);
    DTensor x = distribute_tensor(v, mesh, {Shard(1)});
    const Tensor m = DTensor(mean(x)).full_tensor();
    EXPECT_NEAR(m.item(), mean(v).item(), 1e-14);
  });
}

TEST(ShardingRuleCounts, ShardedDropoutEqualsSingleDeviceDropout) {
  const Tensor v = data({6, 7}, 5);
  manual_seed(42);
  const Tensor ref = dropout(v, 0.3);
  for (int world : {2, 3, 4}) {
    for (const Placements& ps : {Placements{Shard(0)}, Placements{Shard(1)}, Placements{Replicate()}}) {
      sim::run(world, [&](int) {
        DeviceMesh mesh({world});
        manual_seed(42);
        DTensor x = distribute_tensor(v, mesh, ps);
        const Tensor y = DTensor(dropout(x, 0.3)).full_tensor();
        EXPECT_TRUE(equal(y, ref)) << placements_str(ps) << " world " << world;
        EXPECT_EQ(default_generator().offset(), 44u);
      });
    }
  }
}

}  // namespace
}  // namespace tensorpar
