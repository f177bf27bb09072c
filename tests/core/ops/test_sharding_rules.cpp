// Sharding rules on the sim: for every combination of input placements on 1-D meshes of 2, 3
// and 4 ranks (uneven sizes included) and on a 2x2 mesh, forward values and gradients equal the
// single-device result (f64, tight tolerance) and the collectives are the ones the rules promise
// (sim/op_check.cpp). The rules the styles rely on also have hand-written exact counts.
#include <gtest/gtest.h>

#include <functional>

#include "core/autograd.h"
#include "core/comm_debug_mode.h"
#include "core/dtensor.h"
#include "core/philox.h"
#include "sim/forward_trace.h"
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
TEST(RuleCountCheck, FlagsCommunicationNoRulePromises) {
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

TEST(RuleCountCheck, TracesTheRedistributionTheRulePlanned) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    DTensor x = distribute_tensor(data({5, 6}, 1), mesh, {Partial()});
    x.requires_grad_();
    const Tensor y = relu(x);
    const sim::ForwardTrace trace = sim::trace_forward(y, {x});
    EXPECT_EQ(trace.problem, "");
    EXPECT_EQ(trace.op_nodes, 1);
    ASSERT_EQ(trace.redistributions.size(), 1u);
    EXPECT_EQ(trace.redistributions[0].source, (Placements{Partial()}));
    EXPECT_EQ(trace.redistributions[0].target, (Placements{Replicate()}));
    EXPECT_EQ(trace.root_output, (Placements{Replicate()}));
  });
}

TEST(RuleCountCheck, ComposedCasesCompareBackwardExactlyOnlyForSingleOps) {
  const auto& cases = sim::standard_op_cases();
  auto exact_on_2 = [&](const std::string& name) {
    for (const sim::OpCase& c : cases) {
      if (c.name == name) return sim::check_sharding_rule(c, {2}).backward_exact;
    }
    return -1;
  };
  EXPECT_EQ(exact_on_2("linear"), 4 * 4 * 3);  // x [5, 6], w [7, 6], b [7]: R, each S(d), P
  EXPECT_EQ(exact_on_2("scalar_ops"), 0);
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
