// Data parallelism over a mesh dim (styles/data_parallel.h): torch.chunk rows of the batch with
// the loss scale that makes the global mean, DDP's gradient buckets (25 MiB, reverse
// registration order, one dtype each), one all_reduce (avg) per bucket in the backward phase, and
// on a 2-D (dp, tp) mesh the single-device gradient for an uneven batch.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/device_mesh.h"
#include "core/dtensor/dtensor.h"
#include "core/nn/layers.h"
#include "core/ops/ops.h"
#include "core/tensor/meta_device.h"
#include "core/tensor/philox.h"
#include "sim/world.h"
#include "styles/colwise_rowwise.h"
#include "styles/data_parallel.h"
#include "styles/parallelize_module.h"
#include "styles/tp_examples_testing.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using testing::expect_error;

std::vector<std::string> names_of(const GradientBucket& bucket) {
  std::vector<std::string> out;
  for (const auto& [name, p] : bucket.params) out.push_back(name);
  return out;
}

Tensor trainable(const Shape& shape, DType dtype, Device device = cpu()) {
  Tensor t = Tensor::empty(shape, dtype, device);
  t.requires_grad_(true);
  return t;
}

TEST(DataParallelBatch, TorchChunkRowsWithLossScalesThatMakeTheGlobalMean) {
  const auto uneven = sim::run(3, [] { return data_parallel_batch(8, DeviceMesh({3}, {"dp"})); });
  // 8 rows over 3 ranks: 3, 3, 2; the scales n * rows / 8 average the means into the global one.
  EXPECT_EQ(uneven[0].start, 0);
  EXPECT_EQ(uneven[1].start, 3);
  EXPECT_EQ(uneven[2].start, 6);
  EXPECT_EQ(uneven[0].rows, 3);
  EXPECT_EQ(uneven[1].rows, 3);
  EXPECT_EQ(uneven[2].rows, 2);
  EXPECT_DOUBLE_EQ(uneven[0].loss_scale, 9.0 / 8.0);
  EXPECT_DOUBLE_EQ(uneven[2].loss_scale, 6.0 / 8.0);
  const auto even = sim::run(2, [] { return data_parallel_batch(8, DeviceMesh({2}, {"dp"})); });
  EXPECT_EQ(even[1].start, 4);
  EXPECT_EQ(even[1].rows, 4);
  EXPECT_EQ(even[0].loss_scale, 1.0);
  EXPECT_EQ(even[1].loss_scale, 1.0);
}

TEST(DataParallelBatch, ARankWithoutRowsIsRefused) {
  sim::run(3, [] {
    // torch.chunk of 4 rows over 3: 2, 2, 0.
    expect_error<std::invalid_argument>(
        [] { data_parallel_batch(4, DeviceMesh({3}, {"dp"})); },
        "a batch of 4 rows over 3 data-parallel ranks leaves the last rank no rows");
  });
}

TEST(GradientBuckets, ReverseRegistrationOrderClosedWhenTheCapIsReached) {
  // The header's example: 10, 20 and 5 MiB of float32 gradients, the default 25 MiB cap.
  constexpr std::int64_t kMiB = 1 << 20;
  const std::vector<std::pair<std::string, Tensor>> params = {
      {"a", trainable({10 * kMiB / 4}, DType::Float32, meta_device())},
      {"b", trainable({20 * kMiB / 4}, DType::Float32, meta_device())},
      {"c", trainable({5 * kMiB / 4}, DType::Float32, meta_device())}};
  const std::vector<GradientBucket> buckets = assign_gradient_buckets(params, 25 * kMiB);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(names_of(buckets[0]), (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(buckets[0].bytes(), 25 * kMiB);
  EXPECT_EQ(names_of(buckets[1]), (std::vector<std::string>{"a"}));
  EXPECT_EQ(buckets[1].numel, 10 * kMiB / 4);
}

TEST(GradientBuckets, OneDtypePerBucketAndFrozenParametersLeftOut) {
  Tensor frozen = Tensor::empty({100}, DType::Float32);
  const std::vector<std::pair<std::string, Tensor>> params = {
      {"a", trainable({4}, DType::Float32)},  // 16 B
      {"b", trainable({2}, DType::Float64)},  // 16 B
      {"c", trainable({4}, DType::Float32)},  // 16 B
      {"frozen", frozen}};
  // Cap 32 B: c opens the float32 bucket, b the float64 one, a closes the float32 one at 32 B.
  const std::vector<GradientBucket> buckets = assign_gradient_buckets(params, 32);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(names_of(buckets[0]), (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(buckets[0].dtype, DType::Float32);
  EXPECT_EQ(names_of(buckets[1]), (std::vector<std::string>{"b"}));
  EXPECT_EQ(buckets[1].dtype, DType::Float64);
  expect_error<std::invalid_argument>([&] { assign_gradient_buckets(params, 0); },
                                      "bucket_cap_bytes must be >= 1, got 0");
}

TEST(DistributedDataParallel, AveragesGradientsWithOneAllReducePerBucketInBackward) {
  sim::run(3, [](int rank) {
    Generator gen(1);
    nn::MLP mlp(4, 8, 4, true, gen, DType::Float64);
    // float64 gradients of net2.bias 32 B, net2.weight 256 B, net1.bias 64 B, net1.weight 256 B:
    // with a 300 B cap, {net2.bias, net2.weight, net1.bias} (352 B) and {net1.weight}.
    const DistributedDataParallel ddp(mlp, DeviceMesh({3}, {"dp"}),
                                      {.bucket_cap_mb = 300.0 / (1 << 20)});
    ASSERT_EQ(ddp.buckets().size(), 2u);
    EXPECT_EQ(names_of(ddp.buckets()[0]),
              (std::vector<std::string>{"net2.bias", "net2.weight", "net1.bias"}));
    const auto params = mlp.named_parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      // Rank r holds (r + 1) * (i + 1): the average over ranks 0, 1, 2 is 2 * (i + 1).
      Tensor p = params[i].second;
      p.set_grad(full(params[i].second.shape(), double((rank + 1) * int(i + 1)), DType::Float64));
    }
    CommDebugMode mode;
    ddp.reduce_gradients();
    EXPECT_EQ(mode.counts_by_name(CommPhase::Backward),
              (std::map<std::string, std::int64_t>{{"all_reduce", 2}}));
    EXPECT_EQ(mode.count(CommPhase::Forward) + mode.count(CommPhase::Optimizer), 0);
    ASSERT_EQ(mode.records().size(), 2u);
    EXPECT_EQ(mode.records()[0].bytes, 352);
    EXPECT_EQ(mode.records()[1].bytes, 256);
    for (const CollectiveRecord& r : mode.records()) {
      EXPECT_EQ(r.op, ReduceOp::Avg);
      EXPECT_EQ(r.group, (std::vector<int>{0, 1, 2}));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      for (double v : to_vector<double>(params[i].second.grad())) {
        EXPECT_EQ(v, 2.0 * double(i + 1)) << params[i].first;
      }
    }
  });
}

// mean((mlp(x))^2) over this rank's rows of x, scaled for the data-parallel average.
Tensor scaled_loss(nn::Module& mlp, const Tensor& x, const DataParallelBatch& rows) {
  const Tensor y = mlp(x.narrow(0, rows.start, rows.rows));
  return mul(mean(mul(y, y)), rows.loss_scale);
}

TEST(DistributedDataParallel, OnADpTimesTpMeshGivesTheSingleDeviceGradientOfAnUnevenBatch) {
  Generator data_gen(7);
  const Tensor x = randn({7, 4}, data_gen, DType::Float64);  // 7 rows over dp 3: 3, 3, 1
  Generator ref_gen(5);
  nn::MLP reference(4, 8, 4, true, ref_gen, DType::Float64);
  const Tensor y = reference(x);
  mean(mul(y, y)).backward();

  sim::run(6, [&](int rank) {
    Generator gen(5);
    nn::MLP mlp(4, 8, 4, true, gen, DType::Float64);
    const DeviceMesh mesh({3, 2}, {"dp", "tp"});  // tp {0, 1} {2, 3} {4, 5}; dp {0, 2, 4} ...
    ParallelizePlan plan;
    plan.emplace_back("net1", ColwiseParallel());
    plan.emplace_back("net2", RowwiseParallel());
    parallelize_module(mlp, mesh["tp"], plan);
    const DistributedDataParallel ddp(mlp, mesh["dp"]);
    ASSERT_EQ(ddp.buckets().size(), 1u);
    const DataParallelBatch rows = data_parallel_batch(7, ddp.mesh());
    EXPECT_EQ(rows.rows, rank / 2 == 2 ? 1 : 3);

    CommDebugMode mode;
    scaled_loss(mlp, x, rows).backward();
    ddp.reduce_gradients();
    const std::vector<int> dp_group = {rank % 2, rank % 2 + 2, rank % 2 + 4};
    int dp_reduces = 0;
    for (const CollectiveRecord& r : mode.records()) {
      if (r.group != dp_group) continue;
      ++dp_reduces;
      EXPECT_EQ(r.phase, CommPhase::Backward);
      EXPECT_EQ(r.bytes, ddp.buckets()[0].bytes());
    }
    EXPECT_EQ(dp_reduces, 1);
    // Local float64 gradients of rank 0: net1 4 x 4 + 4, net2 4 x 4 + 4 (the bias replicated).
    EXPECT_EQ(ddp.buckets()[0].bytes(), (16 + 4 + 16 + 4) * 8);
    const auto ref = reference.named_parameters();
    const auto got = mlp.named_parameters();
    ASSERT_EQ(got.size(), ref.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      tp_examples::expect_close(tp_examples::whole(got[i].second.grad()), ref[i].second.grad(),
                                got[i].first);
    }
  });
}

TEST(DistributedDataParallel, RefusesA2DMeshAndReportsAMissingGradient) {
  sim::run(4, [] {
    Generator gen(1);
    nn::MLP mlp(4, 8, 4, true, gen, DType::Float64);
    const DeviceMesh mesh({2, 2}, {"dp", "tp"});
    expect_error<std::invalid_argument>([&] { DistributedDataParallel(mlp, mesh); },
                                        "the mesh must be 1-D (the data-parallel dim");
    const DistributedDataParallel ddp(mlp, mesh["dp"]);
    expect_error<std::runtime_error>([&] { ddp.reduce_gradients(); },
                                     "parameter 'net2.bias' has no gradient");
  });
}

}  // namespace
}  // namespace tensorpar
