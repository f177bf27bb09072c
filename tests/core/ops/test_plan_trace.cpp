// PlanTrace: one record per op on DTensors while a scope is active on the thread, with each
// input's placements before and after the rule, the output placements and which tensors took
// part; nothing outside a scope, nothing for plain ops; nested scopes all receive the records.
#include <gtest/gtest.h>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/ops/plan_trace.h"
#include "core/tensor/philox.h"
#include "sim/world.h"

namespace tensorpar {
namespace {

Tensor data(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::Float64);
}

TEST(PlanTrace, RecordsNothingWhileNoScopeIsActive) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    const DTensor x = distribute_tensor(data({4, 3}, 1), mesh, {Partial()});
    EXPECT_FALSE(PlanTrace::active());
    relu(x);  // before the scope: goes nowhere
    PlanTrace trace;
    EXPECT_TRUE(PlanTrace::active());
    EXPECT_TRUE(trace.records().empty());
    relu(x);
    EXPECT_EQ(trace.records().size(), 1u);
  });
  EXPECT_FALSE(PlanTrace::active());
}

TEST(PlanTrace, OpsOnPlainTensorsAreNotRecorded) {
  PlanTrace trace;
  const Tensor y = relu(data({4, 3}, 1)) + 1.0;
  EXPECT_TRUE(trace.records().empty());
}

TEST(PlanTrace, NestedScopesEachReceiveTheOpsOfTheirLifetime) {
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    const DTensor x = distribute_tensor(data({5, 4}, 1), mesh, {Shard(0)});
    PlanTrace outer;
    const Tensor a = relu(x);
    {
      PlanTrace inner;
      const Tensor b = exp(a);
      ASSERT_EQ(inner.records().size(), 1u);
      EXPECT_EQ(inner.records()[0].op, "exp");
    }
    EXPECT_TRUE(PlanTrace::active());
    const Tensor c = a * 2.0;
    ASSERT_EQ(outer.records().size(), 3u);
    EXPECT_EQ(outer.records()[0].op, "relu");
    EXPECT_EQ(outer.records()[1].op, "exp");
    EXPECT_EQ(outer.records()[2].inputs[0].planned, (Placements{Shard(0)}));
  });
}

TEST(PlanTrace, ScopesOnOtherRanksAreSeparate) {
  sim::run(2, [](int rank) {
    DeviceMesh mesh({2});
    const DTensor x = distribute_tensor(data({4, 3}, 1), mesh, {Replicate()});
    PlanTrace trace;
    if (rank == 0) relu(x);  // local: a Replicate relu communicates nothing
    EXPECT_EQ(trace.records().size(), rank == 0 ? 1u : 0u);
  });
}

// 3 ranks: a row-sharded table takes the indices replicated, so indices in S(0) are
// all_gathered first; the record shows it like any input's redistribution.
TEST(PlanTrace, RecordsIndexInputsAndTheirRedistribution) {
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    const DTensor w = distribute_tensor(data({7, 4}, 1), mesh, {Shard(0)});
    const Tensor idx = from_vector<std::int64_t>({0, 6, 3, 2, 5}, {5});
    const DTensor idx_sharded = distribute_tensor(idx, mesh, {Shard(0)});
    CommDebugMode comm;
    PlanTrace trace;
    embedding(w, idx_sharded);
    EXPECT_EQ(comm.count(CollectiveKind::AllGather), 1);
    embedding(w, idx);
    ASSERT_EQ(trace.records().size(), 2u);
    const PlannedInput& sharded = trace.records()[0].inputs.at(1);
    EXPECT_TRUE(sharded.index);
    EXPECT_EQ(sharded.actual, (Placements{Shard(0)}));
    EXPECT_EQ(sharded.planned, (Placements{Replicate()}));
    EXPECT_TRUE(trace.records()[0].redistributed(1));
    EXPECT_FALSE(trace.records()[0].inputs[0].index);
    const PlannedInput& plain = trace.records()[1].inputs.at(1);
    EXPECT_TRUE(plain.index);
    EXPECT_EQ(plain.actual, std::nullopt);  // a plain tensor, read as Replicate
    EXPECT_EQ(plain.planned, (Placements{Replicate()}));
    EXPECT_FALSE(trace.records()[1].redistributed(1));
    EXPECT_EQ(trace.records()[1].outputs, (std::vector<Placements>{{Partial()}}));
  });
}

TEST(PlanTrace, AbsentOptionalInputsHaveNoPlacements) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    const DTensor x = distribute_tensor(data({3, 4}, 1), mesh, {Replicate()});
    const DTensor w = distribute_tensor(data({5, 4}, 2), mesh, {Shard(0)});
    PlanTrace trace;
    linear(x, w);
    ASSERT_EQ(trace.records().size(), 1u);
    const PlanRecord& r = trace.records()[0];
    EXPECT_EQ(r.op, "linear");
    ASSERT_EQ(r.inputs.size(), 3u);
    EXPECT_EQ(r.inputs[2].actual, std::nullopt);
    EXPECT_TRUE(r.inputs[2].planned.empty());
    EXPECT_FALSE(r.redistributed(2));
    EXPECT_EQ(r.outputs, (std::vector<Placements>{{Shard(1)}}));
    EXPECT_EQ(r.mesh_shape, (Shape{2}));
  });
}

// relu(x) then y * 2: the second record's input is the first record's output.
TEST(PlanTrace, RecordsWhichTensorsFlowedAndWhetherAutogradRecorded) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    DTensor x = distribute_tensor(data({4, 3}, 1), mesh, {Shard(1)});
    x.requires_grad_();
    PlanTrace trace;
    const Tensor y = relu(x);
    const Tensor z = y * 2.0;
    {
      NoGradGuard no_grad;
      exp(z);
    }
    ASSERT_EQ(trace.records().size(), 3u);
    const auto& r = trace.records();
    EXPECT_TRUE(same_tensor(r[0].inputs[0].tensor, x));
    EXPECT_TRUE(same_tensor(r[0].output_tensors.at(0), y));
    EXPECT_TRUE(same_tensor(r[1].inputs[0].tensor, y));
    EXPECT_FALSE(same_tensor(r[1].inputs[0].tensor, x));
    EXPECT_TRUE(same_tensor(r[1].output_tensors.at(0), z));
    EXPECT_TRUE(r[0].inputs[0].requires_grad);
    EXPECT_TRUE(r[0].recorded_for_backward);
    EXPECT_TRUE(r[1].recorded_for_backward);
    EXPECT_FALSE(r[2].recorded_for_backward);
  });
}

TEST(PlanTrace, AReferenceToAFreedTensorMatchesNoLaterTensor) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    const DTensor x = distribute_tensor(data({4, 3}, 1), mesh, {Shard(0)});
    PlanTrace trace;
    relu(x);  // output dropped at once
    const TensorRef dropped = trace.records().at(0).output_tensors.at(0);
    EXPECT_TRUE(dropped.expired());
    const Tensor later = relu(x);
    EXPECT_FALSE(same_tensor(dropped, later));
    EXPECT_TRUE(same_tensor(trace.records().at(1).output_tensors.at(0), later));
  });
}

}  // namespace
}  // namespace tensorpar
