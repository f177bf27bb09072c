// Sharding rules on the sim: for every combination of input placements on 1-D meshes of 2, 3
// and 4 ranks (uneven sizes included) and on a 2x2 mesh, forward values and gradients equal the
// single-device result (f64, tight tolerance) and the collectives are the ones the rules promise
// (sim/op_check.cpp). The rules the styles rely on also have hand-written exact counts.
#include <gtest/gtest.h>

#include <functional>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/op.h"
#include "core/ops/plan_trace.h"
#include "core/tensor/philox.h"
#include "sim/op_check.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

Tensor data(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::Float64);
}

// Every standard op case: the rule matrix on each standard mesh and a gradient check.
class OpRule : public ::testing::TestWithParam<std::size_t> {};

TEST_P(OpRule, MatrixMatchesSingleDeviceAndPromisedCountsOnEveryMesh) {
  const sim::OpCase& op = sim::standard_op_cases()[GetParam()];
  for (const Shape& mesh : sim::standard_meshes()) {
    const sim::RuleResult r = sim::check_sharding_rule(op, mesh);
    const std::string first = r.messages.empty() ? "" : r.messages.front();
    EXPECT_GT(r.cases, 0);
    EXPECT_EQ(r.failures, 0) << first;
    EXPECT_EQ(r.count_failures, 0) << first;
    EXPECT_EQ(r.backward_exact, r.cases) << shape_str(mesh);
  }
}

TEST_P(OpRule, GradientMatchesFiniteDifferences) {
  const sim::OpCase& op = sim::standard_op_cases()[GetParam()];
  EXPECT_LT(sim::gradcheck_max_rel_err(op), 1e-6) << op.name;
}

INSTANTIATE_TEST_SUITE_P(StandardOps, OpRule,
                         ::testing::Range<std::size_t>(0, sim::standard_op_cases().size()),
                         [](const auto& info) { return sim::standard_op_cases()[info.param].name; });

// ---- the count check itself ----

// A case that replicates its input on the side (unrecorded, result unused): values and
// gradients stay right, but the forward issues a collective that no rule promised.
TEST(RuleCountCheck, FlagsForwardCommunicationNoRulePromises) {
  const sim::OpCase hidden{"relu_with_side_gather",
                           [](const std::vector<Tensor>& x) {
                             if (x[0].is_distributed()) {
                               NoGradGuard no_grad;
                               const DTensor d(x[0]);
                               d.redistribute(Placements(d.placements().size(), Replicate()));
                             }
                             return relu(x[0]);
                           },
                           {{data({5, 3}, 1), true}}};
  const sim::RuleResult r = sim::check_sharding_rule(hidden, {2});
  EXPECT_EQ(r.failures, 0);
  // R is the only input placement that needs no collective to replicate.
  EXPECT_EQ(r.count_failures, r.cases - 1);
  ASSERT_FALSE(r.messages.empty());
  EXPECT_NE(r.messages.front().find("the plan promises"), std::string::npos) << r.messages.front();
}

// y = 2x with a rule that keeps every placement, whose local backward also all_reduces a scratch
// value on DTensors: values and gradients stay right, but every backward issues one collective
// more than the rule promises.
class DoubleWithBackwardCollective final : public OpDef {
 public:
  const char* name() const override { return "double_with_backward_collective"; }
  std::vector<Tensor> forward(OpContext&, const std::vector<Tensor>& in) const override {
    return {in[0] * 2.0};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    if (ctx.shard) {
      Tensor scratch = zeros({1}, DType::Float64);
      ctx.shard->inputs[0]->mesh.group(0).all_reduce(scratch)->wait();
    }
    return {grads[0] * 2.0};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    return {{in[0]->placements}, {in[0]->placements}, {in[0]->shape}};
  }
};

TEST(RuleCountCheck, FlagsBackwardCommunicationNoRulePromises) {
  const sim::OpCase hidden{"double_with_backward_collective",
                           [](const std::vector<Tensor>& x) {
                             return apply_op1(DoubleWithBackwardCollective{}, {x[0]});
                           },
                           {{data({5, 3}, 1), true}}};
  const sim::RuleResult r = sim::check_sharding_rule(hidden, {3});
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.backward_exact, r.cases);
  EXPECT_EQ(r.count_failures, r.cases);
  ASSERT_FALSE(r.messages.empty());
  EXPECT_NE(r.messages.front().find("backward issued 1 collectives, the plan promises 0"),
            std::string::npos)
      << r.messages.front();
}

TEST(RuleCountCheck, RecordsTheRedistributionTheRulePlanned) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    DTensor x = distribute_tensor(data({5, 6}, 1), mesh, {Partial()});
    x.requires_grad_();
    PlanTrace trace;
    const Tensor y = relu(x);
    ASSERT_EQ(trace.records().size(), 1u);
    const PlanRecord& r = trace.records()[0];
    EXPECT_EQ(r.op, "relu");
    ASSERT_EQ(r.inputs.size(), 1u);
    EXPECT_EQ(r.inputs[0].actual, (Placements{Partial()}));
    EXPECT_EQ(r.inputs[0].planned, (Placements{Replicate()}));
    EXPECT_TRUE(r.redistributed(0));
    EXPECT_EQ(r.outputs, (std::vector<Placements>{{Replicate()}}));
    EXPECT_TRUE(r.recorded_for_backward);
  });
}

TEST(RuleCountCheck, SingleOpsAndComposedCasesGetExactBackwardCounts) {
  const auto& cases = sim::standard_op_cases();
  auto exact_on_2 = [&](const std::string& name) {
    for (const sim::OpCase& c : cases) {
      if (c.name == name) return sim::check_sharding_rule(c, {2}).backward_exact;
    }
    return -1;
  };
  EXPECT_EQ(exact_on_2("linear"), 4 * 4 * 3);     // x [5, 6], w [7, 6], b [7]: R, each S(d), P
  EXPECT_EQ(exact_on_2("scalar_ops"), 4);         // x [5, 3] used twice, through five ops
  EXPECT_EQ(exact_on_2("nll_loss_none"), 4 * 2);  // log_softmax then nll_loss; target R or S(0)
}

// y = softmax(x0) used twice. On x0 [S(1)], x1 [P], y is [R] (gathered); y * x1 is [P] and
// gives y the gradient [P], y + x1 gives it [R]; their sum stays [P], so softmax keeps its
// output's gradient Partial and x0's goes back to [S(1)] by reduce_scatter, not a local chunk.
TEST(RuleCountCheck, ReusedIntermediateGetsAnExactBackwardCount) {
  const sim::OpCase reuse{"softmax_used_twice",
                          [](const std::vector<Tensor>& x) {
                            const Tensor y = softmax(x[0], 1);
                            return y * x[1] + y;
                          },
                          {{data({5, 7}, 1), true}, {data({5, 7}, 2), true}}};
  for (const Shape& mesh : sim::standard_meshes()) {
    const sim::RuleResult r = sim::check_sharding_rule(reuse, mesh);
    const std::string first = r.messages.empty() ? "" : r.messages.front();
    EXPECT_EQ(r.failures, 0) << first;
    EXPECT_EQ(r.count_failures, 0) << first;
    EXPECT_EQ(r.backward_exact, r.cases) << shape_str(mesh);
  }
}

// A node that is not an op (here the DTensor API's redistribute) hides the gradient's path from
// the records: the backward is then held to the invariant only.
TEST(RuleCountCheck, GraphsWithOtherNodesFallBackToTheInvariant) {
  const sim::OpCase api{"relu_then_redistribute",
                        [](const std::vector<Tensor>& x) {
                          const Tensor y = relu(x[0]);
                          if (!y.is_distributed()) return y;
                          const DTensor d(y);
                          return Tensor(d.redistribute(d.placements()));
                        },
                        {{data({5, 3}, 1), true}}};
  const sim::RuleResult r = sim::check_sharding_rule(api, {2});
  const std::string first = r.messages.empty() ? "" : r.messages.front();
  EXPECT_EQ(r.failures, 0) << first;
  EXPECT_EQ(r.count_failures, 0) << first;
  EXPECT_EQ(r.backward_exact, 0);
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

// cat keeps a placement that does not shard the cat dim: column blocks cat along rows stay
// column blocks (5 columns over 3 ranks: 2, 2, 1), with no communication either way.
TEST(ShardingRuleCounts, CatAlongAnUnshardedDimKeepsTheShards) {
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    const Tensor a = data({3, 5}, 1), b = data({2, 5}, 2);
    DTensor x = distribute_tensor(a, mesh, {Shard(1)});
    DTensor y = distribute_tensor(b, mesh, {Shard(1)});
    x.requires_grad_();
    y.requires_grad_();
    CommDebugMode fwd;
    DTensor z(cat({x, y}, 0));
    EXPECT_EQ(fwd.total_count(), 0);
    EXPECT_EQ(z.placements(), (Placements{Shard(1)}));
    EXPECT_EQ(z.shape(), (Shape{5, 5}));
    EXPECT_TRUE(allclose(z.full_tensor(), cat({a, b}, 0), 0, 1e-15));
    CommDebugMode bwd;
    sum(z.to_local()).backward();
    EXPECT_EQ(bwd.total_count(), 0);
    EXPECT_EQ(DTensor(x.grad()).placements(), (Placements{Shard(1)}));
    EXPECT_EQ(DTensor(y.grad()).shape(), (Shape{2, 5}));
  });
}

// cat along a sharded dim gathers each sharded input first (one all_gather each), as torch
// does; a replicated input next to it costs nothing.
TEST(ShardingRuleCounts, CatAlongTheShardedDimReplicatesFirst) {
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    const Tensor a = data({4, 2}, 3), b = data({5, 2}, 4), c = data({1, 2}, 5);
    DTensor x = distribute_tensor(a, mesh, {Shard(0)});
    DTensor y = distribute_tensor(b, mesh, {Shard(0)});
    DTensor r = distribute_tensor(c, mesh, {Replicate()});
    CommDebugMode fwd;
    DTensor z(cat({x, r, y}, 0));
    EXPECT_EQ(fwd.count(CollectiveKind::AllGather), 2);
    EXPECT_EQ(fwd.total_count(), 2);
    EXPECT_EQ(z.placements(), (Placements{Replicate()}));
    EXPECT_TRUE(allclose(z.to_local(), cat({a, c, b}, 0), 0, 1e-15));
  });
}

// Errors name the global shapes, not the local shards.
TEST(ShardingRuleCounts, CatMismatchNamesTheGlobalShapes) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    DTensor x = distribute_tensor(data({4, 3}, 1), mesh, {Shard(0)});
    DTensor y = distribute_tensor(data({4, 5}, 2), mesh, {Shard(0)});
    try {
      (void)cat({x, y}, 0);
      ADD_FAILURE() << "cat of [4, 3] and [4, 5] along 0 was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("tensors[1] has shape [4, 5] but tensors[0] has shape "
                                           "[4, 3] (only dim 0 may differ)"),
                std::string::npos)
          << e.what();
    }
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
