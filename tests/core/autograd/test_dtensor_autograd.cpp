// Backward of the DTensor API (redistribute, from_local, to_local, full_tensor) with the exact
// forward/backward collective counts of PyTorch's test_redistribute.py and test_dtensor.py.
#include <gtest/gtest.h>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "sim/world.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using testing::expect_error;
using testing::iota;

Tensor ones64(const Shape& s) { return ones(s, DType::Float64); }

// The uneven shapes of test_redistribute: (12,3), (13,3), (14,3) on dim 0 and their transposes.
struct UnevenCase {
  Shape shape;
  std::int64_t dim;
};
const std::vector<UnevenCase> kUneven = {{{12, 3}, 0}, {{13, 3}, 0}, {{14, 3}, 0},
                                         {{3, 12}, 1}, {{3, 13}, 1}, {{3, 14}, 1}};

TEST(DTensorAutograd, ShardToReplicateForwardBackward) {
  for (int world : {3, 4}) {
    sim::run(world, [world](int) {
      DeviceMesh mesh({world});
      for (const UnevenCase& c : kUneven) {
        Tensor input = iota(c.shape).to(DType::Float64).requires_grad_();
        DTensor sharded = distribute_tensor(input, mesh, {Shard(c.dim)});
        CommDebugMode fwd;
        DTensor replica = sharded.redistribute({Replicate()});
        EXPECT_EQ(fwd.count(CollectiveKind::AllGather), 1);
        EXPECT_EQ(fwd.total_count(), 1);
        EXPECT_TRUE(equal(replica.to_local(), input.detach()));
        CommDebugMode bwd;
        sum(replica.to_local()).backward();
        EXPECT_EQ(bwd.total_count(), 0);
        const DTensor g(sharded.grad());
        EXPECT_EQ(g.placements(), (Placements{Shard(c.dim)}));
        EXPECT_TRUE(equal(g.full_tensor(), ones64(c.shape)));
      }
    });
  }
}

TEST(DTensorAutograd, ReplicateToShardBackwardGathers) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    for (const UnevenCase& c : kUneven) {
      DTensor replica = distribute_tensor(ones64(c.shape), mesh, {Replicate()});
      replica.requires_grad_();
      CommDebugMode fwd;
      DTensor sharded = replica.redistribute({Shard(c.dim)});
      EXPECT_EQ(fwd.total_count(), 0);
      EXPECT_TRUE(equal(sharded.to_local(), ones64(c.shape).chunk(4, c.dim).size() > std::size_t(rank)
                                                ? ones64(c.shape).chunk(4, c.dim)[rank]
                                                : sharded.to_local()));
      CommDebugMode bwd;
      sum(sharded.to_local()).backward();
      EXPECT_EQ(bwd.count(CollectiveKind::AllGather), 1);
      EXPECT_EQ(bwd.total_count(), 1);
      const DTensor g(replica.grad());
      EXPECT_EQ(g.placements(), (Placements{Replicate()}));
      EXPECT_TRUE(equal(g.to_local(), ones64(c.shape)));
    }
  });
}

TEST(DTensorAutograd, PartialToReplicateAllReducesForwardOnly) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    Tensor local = ones64({12, 3}).requires_grad_();
    DTensor partial = DTensor::from_local(local, mesh, {Partial()});
    CommDebugMode fwd;
    DTensor replica = partial.redistribute({Replicate()});
    EXPECT_EQ(fwd.count(CollectiveKind::AllReduce), 1);
    EXPECT_TRUE(equal(replica.to_local(), full({12, 3}, 4.0, DType::Float64)));
    CommDebugMode bwd;
    sum(replica.to_local()).backward();
    EXPECT_EQ(bwd.total_count(), 0);
    EXPECT_TRUE(equal(local.grad(), ones64({12, 3})));
  });
}

TEST(DTensorAutograd, ReplicateToLocalPartialGradAllReducesInBackward) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    DTensor replica = distribute_tensor(ones64({4, 3}), mesh, {Replicate()});
    replica.requires_grad_();
    CommDebugMode comm;
    Tensor local = replica.redistribute({Replicate()}).to_local(Placements{Partial()});
    sum(local).backward();
    EXPECT_EQ(comm.count(CollectiveKind::AllReduce), 1);
    EXPECT_EQ(comm.total_count(), 1);
    EXPECT_TRUE(equal(DTensor(replica.grad()).to_local(), full({4, 3}, 4.0, DType::Float64)));
  });
}

TEST(DTensorAutograd, PartialToPartialIsFreeBothWays) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    DTensor p = distribute_tensor(ones64({12, 3}), mesh, {Partial()});
    p.requires_grad_();
    CommDebugMode comm;
    DTensor same = p.redistribute({Partial()});
    same.backward(DTensor(ones64({12, 3}), same.spec_ptr()));
    EXPECT_EQ(comm.total_count(), 0);
  });
}

TEST(DTensorAutograd, FromLocalGradientFlowsThroughLocalOps) {
  // test_from_local: grad through local*3 then dist*3 is 9.
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    Tensor base = ones64({3, 3}).requires_grad_();
    DTensor d = DTensor::from_local(base * 3.0, mesh, {Shard(0)});
    EXPECT_EQ(d.shape(), (Shape{9, 3}));
    Tensor out = d * 3.0;
    sum(DTensor(out).to_local()).backward();
    EXPECT_TRUE(equal(base.grad(), full({3, 3}, 9.0, DType::Float64)));
  });
}

TEST(DTensorAutograd, ToLocalGradHintGathersThenReduceScatters) {
  // test_to_local_grad_hint: 1 all_gather + 1 reduce_scatter; grad = global x W.
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    DTensor sharded = distribute_tensor(ones64({8, 3}), mesh, {Shard(0)});
    sharded.requires_grad_();
    CommDebugMode comm;
    Tensor local = sharded.redistribute({Replicate()}).to_local(Placements{Partial()});
    sum(local).backward();
    EXPECT_EQ(comm.count(CollectiveKind::AllGather), 1);
    EXPECT_EQ(comm.count(CollectiveKind::ReduceScatter), 1);
    EXPECT_EQ(comm.total_count(), 2);
    EXPECT_TRUE(equal(DTensor(sharded.grad()).full_tensor(), full({8, 3}, 4.0, DType::Float64)));
  });
}

TEST(DTensorAutograd, FullTensorGradHintPartialScalesByWorld) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    DTensor sharded = distribute_tensor(ones64({8, 3}), mesh, {Shard(0)});
    sharded.requires_grad_();
    sum(sharded.full_tensor(Placements{Partial()})).backward();
    EXPECT_TRUE(equal(DTensor(sharded.grad()).full_tensor(), full({8, 3}, 4.0, DType::Float64)));
  });
}

TEST(DTensorAutograd, DistributeTensorRules) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    Tensor w = ones64({4}).requires_grad_();
    DTensor d = distribute_tensor(w, mesh, {Shard(0)});
    EXPECT_TRUE(d.requires_grad());
    EXPECT_TRUE(d.is_leaf());
    expect_error<std::runtime_error>([&] { distribute_tensor(w * 2.0, mesh, {Shard(0)}); },
                                     "should be used to distribute leaf tensors");
    EXPECT_EQ(distribute_tensor(d, mesh, {Shard(0)}).impl(), d.impl());
    expect_error<std::invalid_argument>([&] { distribute_tensor(d, mesh, {Replicate()}); },
                                        "do you want to call `redistribute` instead?");
  });
}

TEST(DTensorAutograd, UnderNoGradToLocalIsTheLocalTensorItself) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    DTensor d = distribute_tensor(ones64({4}), mesh, {Shard(0)});
    d.requires_grad_();
    NoGradGuard no_grad;
    EXPECT_EQ(d.to_local().impl(), d.impl()->dist->local.impl());
  });
}

}  // namespace
}  // namespace tensorpar
