// PyTorch's test_tp_style.py (reference section 9.1), translated: each style's forward and
// backward collective counts, output shapes and values against the single-device module, at
// world sizes 4, 2 and 3 (12 features where 16 does not divide).
#include <gtest/gtest.h>

#include "core/autograd/autograd.h"
#include "core/nn/layers.h"
#include "sim/world.h"
#include "style_testing.h"
#include "styles/parallel.h"

namespace tensorpar {
namespace {

using namespace style_testing;

struct StyleCase {
  int world;
  std::int64_t features;  // Linear(features, features), Embedding(features, features)
  std::int64_t batch;
};
const StyleCase kCases[] = {{4, 16, 8}, {2, 16, 8}, {3, 12, 6}};

TEST(ColwiseParallelStyle, DefaultIsNoForwardCommAndOneBackwardAllReduce) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int rank) {
      DeviceMesh mesh({c.world});
      Generator g1(3), g2(3), gx(7);
      nn::Linear model(c.features, c.features, true, g1, DType::Float64);
      nn::Linear ref(c.features, c.features, true, g2, DType::Float64);
      Tensor x = rand({c.batch, c.features}, gx, DType::Float64).requires_grad_();
      Tensor x_ref = x.detach().clone().requires_grad_();
      parallelize_module(model, mesh, ColwiseParallel());

      CommDebugMode mode;
      Tensor y = model(x);
      EXPECT_FALSE(y.is_distributed());
      EXPECT_EQ(y.shape(), (Shape{c.batch, c.features / c.world}));
      EXPECT_EQ(counts(mode, CommPhase::Forward), Counts{});
      sum(y).backward();
      EXPECT_EQ(counts(mode, CommPhase::Backward), (Counts{{"all_reduce", 1}}));

      Tensor y_ref = ref(x_ref);
      sum(y_ref).backward();
      expect_close(y, block_of(y_ref.detach(), Shard(-1), c.world, rank));
      expect_close(x.grad(), x_ref.grad());
      const DTensor wg(model.parameter("weight").grad());
      EXPECT_EQ(wg.placements(), (Placements{Shard(0)}));
      expect_close(wg.full_tensor(), ref.parameter("weight").grad());
    });
  }
}

TEST(ColwiseParallelStyle, ShardedInputIsGatheredForwardAndReduceScatteredBackward) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int rank) {
      DeviceMesh mesh({c.world});
      Generator g1(3), g2(3);
      nn::Linear model(c.features, c.features, true, g1, DType::Float64);
      nn::Linear ref(c.features, c.features, true, g2, DType::Float64);
      Generator gx(11);
      Tensor global = rand({c.batch * c.world, c.features}, gx, DType::Float64);
      Tensor x = block_of(global, Shard(0), c.world, rank).requires_grad_();
      parallelize_module(model, mesh, ColwiseParallel({.input_layouts = Shard(0)}));

      CommDebugMode mode;
      Tensor y = model(x);
      EXPECT_EQ(y.shape(), (Shape{c.batch * c.world, c.features / c.world}));
      EXPECT_EQ(counts(mode, CommPhase::Forward), (Counts{{"all_gather", 1}}));
      sum(y).backward();
      EXPECT_EQ(counts(mode, CommPhase::Backward), (Counts{{"reduce_scatter", 1}}));
      EXPECT_EQ(mode.total_count(), 2);

      Tensor x_ref = global.clone().requires_grad_();
      Tensor y_ref = ref(x_ref);
      sum(y_ref).backward();
      expect_close(y, block_of(y_ref.detach(), Shard(-1), c.world, rank));
      expect_close(x.grad(), block_of(x_ref.grad(), Shard(0), c.world, rank));
    });
  }
}

TEST(ColwiseParallelStyle, EmbeddingShardsColumnsWithoutCommunication) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int rank) {
      DeviceMesh mesh({c.world});
      Generator g1(5), g2(5);
      nn::Embedding model(c.features, c.features, g1, DType::Float64);
      nn::Embedding ref(c.features, c.features, g2, DType::Float64);
      parallelize_module(model, mesh, ColwiseParallel());
      EXPECT_EQ(DTensor(model.parameter("weight")).placements(), (Placements{Shard(1)}));
      Tensor idx = arange(8).reshape({4, 2});
      CommDebugMode mode;
      Tensor y = model(idx);
      EXPECT_EQ(y.shape(), (Shape{4, 2, c.features / c.world}));
      sum(y).backward();
      EXPECT_EQ(mode.total_count(), 0);
      expect_close(y, block_of(ref(idx).detach(), Shard(-1), c.world, rank));
    });
  }
}

TEST(ColwiseParallelStyle, PreservesRequiresGrad) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    nn::Linear model(16, 16);
    model.parameter("weight").requires_grad_(false);
    parallelize_module(model, mesh, ColwiseParallel());
    EXPECT_TRUE(model.parameter("weight").is_distributed());
    EXPECT_FALSE(model.parameter("weight").requires_grad());
    EXPECT_TRUE(model.parameter("bias").requires_grad());
  });
}

TEST(RowwiseParallelStyle, DefaultAllReducesForwardAndNothingBackward) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int rank) {
      DeviceMesh mesh({c.world});
      Generator g1(3), g2(3), gx(13);
      nn::Linear model(c.features, c.features, true, g1, DType::Float64);
      nn::Linear ref(c.features, c.features, true, g2, DType::Float64);
      Tensor global = rand({c.batch, c.features}, gx, DType::Float64);
      Tensor x = block_of(global, Shard(-1), c.world, rank).requires_grad_();
      parallelize_module(model, mesh, RowwiseParallel());
      EXPECT_EQ(DTensor(model.parameter("weight")).placements(), (Placements{Shard(1)}));
      EXPECT_EQ(DTensor(model.parameter("bias")).placements(), (Placements{Replicate()}));

      CommDebugMode mode;
      Tensor y = model(x);
      EXPECT_EQ(y.shape(), (Shape{c.batch, c.features}));
      EXPECT_EQ(counts(mode, CommPhase::Forward), (Counts{{"all_reduce", 1}}));
      sum(y).backward();
      EXPECT_EQ(counts(mode, CommPhase::Backward), Counts{});

      Tensor x_ref = global.clone().requires_grad_();
      Tensor y_ref = ref(x_ref);
      sum(y_ref).backward();
      expect_close(y, y_ref.detach());
      expect_close(x.grad(), block_of(x_ref.grad(), Shard(-1), c.world, rank));
      expect_close(DTensor(model.parameter("bias").grad()).full_tensor(),
                   ref.parameter("bias").grad());
    });
  }
}

TEST(RowwiseParallelStyle, ShardedOutputReduceScattersForwardAndGathersBackward) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int rank) {
      DeviceMesh mesh({c.world});
      Generator g1(3), g2(3), gx(17);
      nn::Linear model(c.features, c.features, true, g1, DType::Float64);
      nn::Linear ref(c.features, c.features, true, g2, DType::Float64);
      const std::int64_t batch = 2 * c.world;
      Tensor global = rand({batch, c.features}, gx, DType::Float64);
      Tensor x = block_of(global, Shard(-1), c.world, rank).requires_grad_();
      parallelize_module(model, mesh, RowwiseParallel({.output_layouts = Shard(0)}));

      CommDebugMode mode;
      Tensor y = model(x);
      EXPECT_EQ(y.shape(), (Shape{2, c.features}));
      EXPECT_EQ(counts(mode, CommPhase::Forward), (Counts{{"reduce_scatter", 1}}));
      sum(y).backward();
      EXPECT_EQ(counts(mode, CommPhase::Backward), (Counts{{"all_gather", 1}}));

      Tensor y_ref = ref(global);
      expect_close(y, block_of(y_ref.detach(), Shard(0), c.world, rank));
    });
  }
}

TEST(RowwiseParallelStyle, EmbeddingMaskedLookupAllReduces) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int) {
      DeviceMesh mesh({c.world});
      Generator g1(5), g2(5);
      nn::Embedding model(c.features, c.features, g1, DType::Float64);
      nn::Embedding ref(c.features, c.features, g2, DType::Float64);
      parallelize_module(model, mesh, RowwiseParallel({.input_layouts = Replicate()}));
      EXPECT_EQ(DTensor(model.parameter("weight")).placements(), (Placements{Shard(0)}));
      // Indices over every row, so every rank's row range is hit (uneven at W = 3).
      std::vector<std::int64_t> rows;
      for (std::int64_t i = 0; i < 8; ++i) rows.push_back(i * (c.features - 1) / 7);
      Tensor idx = from_vector(rows, {4, 2});
      CommDebugMode mode;
      Tensor y = model(idx);
      EXPECT_EQ(y.shape(), (Shape{4, 2, c.features}));
      EXPECT_EQ(counts(mode, CommPhase::Forward), (Counts{{"all_reduce", 1}}));
      sum(y).backward();
      EXPECT_EQ(counts(mode, CommPhase::Backward), Counts{});
      expect_close(y, ref(idx).detach());
    });
  }
}

TEST(RowwiseParallelStyle, EmbeddingShardedOutputReduceScatters) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int rank) {
      DeviceMesh mesh({c.world});
      Generator g1(5), g2(5);
      nn::Embedding model(c.features, c.features, g1, DType::Float64);
      nn::Embedding ref(c.features, c.features, g2, DType::Float64);
      RowwiseParallel style({.input_layouts = Replicate(), .output_layouts = Shard(1)});
      parallelize_module(model, mesh, style);
      Tensor idx = arange(8);
      CommDebugMode mode;
      Tensor y = model(idx);
      EXPECT_EQ(counts(mode, CommPhase::Forward), (Counts{{"reduce_scatter", 1}}));
      sum(y).backward();
      EXPECT_EQ(counts(mode, CommPhase::Backward), (Counts{{"all_gather", 1}}));
      expect_close(y, block_of(ref(idx).detach(), Shard(1), c.world, rank));
      EXPECT_EQ(y.shape()[0], 8);
    });
  }
}

TEST(RowwiseParallelStyle, PreservesRequiresGrad) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    nn::Linear model(16, 16);
    model.parameter("weight").requires_grad_(false);
    parallelize_module(model, mesh, RowwiseParallel());
    EXPECT_FALSE(model.parameter("weight").requires_grad());
    EXPECT_TRUE(model.parameter("bias").requires_grad());
  });
}

TEST(LinearStyles, RejectOtherModuleTypesNamingTheStyleAndModule) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    nn::LayerNorm norm(4);
    expect_error<std::invalid_argument>(
        [&] { parallelize_module(norm, mesh, ColwiseParallel()); },
        "ColwiseParallel currently only support nn.Linear and nn.Embedding! got LayerNorm");
    expect_error<std::invalid_argument>(
        [&] { parallelize_module(norm, mesh, RowwiseParallel()); },
        "RowwiseParallel currently only support nn.Linear and nn.Embedding! got LayerNorm");
  });
}

TEST(LinearStyles, TwoDistributingStylesOnOneModuleAreRejected) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    nn::Linear model(4, 4);
    parallelize_module(model, mesh, ColwiseParallel());
    expect_error<std::runtime_error>(
        [&] { parallelize_module(model, mesh, RowwiseParallel()); },
        "distribute_module should only be called once on a module");
  });
}

TEST(LinearStyles, UnevenOutputStaysCorrectAsDTensor) {
  // 10 output features on 4 ranks: 3, 3, 3, 1. With use_local_output = false the output is a
  // DTensor that knows its global shape, so gathering it is exact.
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    Generator g1(2), g2(2), gx(4);
    nn::Linear model(6, 10, true, g1, DType::Float64);
    nn::Linear ref(6, 10, true, g2, DType::Float64);
    Tensor x = rand({5, 6}, gx, DType::Float64);
    parallelize_module(model, mesh, ColwiseParallel({.use_local_output = false}));
    Tensor y = model(x);
    ASSERT_TRUE(y.is_distributed());
    EXPECT_EQ(y.shape(), (Shape{5, 10}));
    expect_close(DTensor(y).full_tensor(), ref(x).detach());
  });
}

TEST(PrepareModuleInputStyle, ShardedInputBecomesReplicated) {
  for (int world : {2, 3, 4}) {
    sim::run(world, [world](int) {
      DeviceMesh mesh({world});
      Identity module;
      parallelize_module(module, mesh,
                         PrepareModuleInput({.input_layouts = Shard(0),
                                             .desired_input_layouts = Replicate()}));
      Tensor out = module(ones({2, 16}));
      ASSERT_TRUE(out.is_distributed());
      EXPECT_TRUE(equal(DTensor(out).full_tensor(), ones({2 * world, 16})));
    });
  }
}

TEST(PrepareModuleInputStyle, LengthChecksUsePyTorchMessages) {
  expect_error<std::invalid_argument>(
      [] {
        PrepareModuleInput({.input_layouts = Shard(0),
                            .desired_input_layouts = Layouts{Replicate(), std::nullopt}});
      },
      "input_layouts and desired_input_layouts should have same length!");
  expect_error<std::invalid_argument>(
      [] { PrepareModuleInput({.input_layouts = Shard(0)}); },
      "desired module inputs should not be None!");
  expect_error<std::invalid_argument>(
      [] {
        PrepareModuleInput({.input_kwarg_layouts = {{"y", Shard(0)}}});
      },
      "input_kwarg_layouts and desired_input_kwarg_layouts should have same length!");
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    Generator gen(1);
    TwoInput module(8, gen);
    parallelize_module(module, mesh,
                       PrepareModuleInput({.input_layouts = Shard(0),
                                           .desired_input_layouts = Replicate()}));
    expect_error<std::invalid_argument>(
        [&] { module(nn::ModuleInputs{{ones({2, 8}, DType::Float64), ones({2, 8}, DType::Float64)}, {}}); },
        "module inputs and input_layouts should have same length!");
  });
}

TEST(PrepareModuleInputStyle, MultipleInputsWithPassThrough) {
  for (const StyleCase& c : kCases) {
    sim::run(c.world, [&](int) {
      DeviceMesh mesh({c.world});
      const std::int64_t f = c.world == 3 ? 6 : 8;
      Generator gen(1), gx(2);
      TwoInput module(f, gen);
      parallelize_module(*module.linear, mesh, ColwiseParallel());
      parallelize_module(module, mesh,
                         PrepareModuleInput({.input_layouts = Layouts{Shard(0), std::nullopt},
                                             .desired_input_layouts =
                                                 Layouts{Replicate(), std::nullopt}}));
      Tensor x = randn({2, f}, gx, DType::Float64);
      Tensor y = ones({2 * c.world, f / c.world}, DType::Float64);
      Tensor out = module(nn::ModuleInputs{{x, y}, {}})[0];
      EXPECT_EQ(out.shape(), (Shape{2 * c.world, f / c.world}));
    });
  }
}

TEST(PrepareModuleInputStyle, KeywordInputs) {
  for (int world : {2, 3, 4}) {
    sim::run(world, [world](int) {
      DeviceMesh mesh({world});
      Generator gen(1), gx(2);
      KwargModule module(gen);
      parallelize_module(*module.linear, mesh, ColwiseParallel({.use_local_output = false}));
      parallelize_module(module, mesh,
                         PrepareModuleInput({.input_kwarg_layouts = {{"y", Shard(0)}},
                                             .desired_input_kwarg_layouts = {{"y", Replicate()}}}));
      CommDebugMode mode;
      Tensor out = module(nn::ModuleInputs{{randn({world, 8}, gx, DType::Float64)},
                                           {{"y", ones({1, 8}, DType::Float64)}}})[0];
      EXPECT_EQ(mode.total_count(), 1);
      EXPECT_EQ(out.shape(), (Shape{world, 8}));

      KwargOnlyModule kwonly(gen);
      parallelize_module(*kwonly.linear, mesh, ColwiseParallel({.use_local_output = false}));
      parallelize_module(kwonly, mesh,
                         PrepareModuleInput(
                             {.input_kwarg_layouts = {{"x", Shard(0)}, {"z", Shard(0)}},
                              .desired_input_kwarg_layouts = {{"x", Replicate()},
                                                              {"z", Replicate()}}}));
      CommDebugMode mode2;
      out = kwonly(nn::ModuleInputs{{},
                                    {{"x", randn({1, 8}, gx, DType::Float64)},
                                     {"z", ones({1, 8}, DType::Float64)}}})[0];
      EXPECT_EQ(mode2.total_count(), 2);
      EXPECT_EQ(out.shape(), (Shape{world, 8}));

      // x already a DTensor: used as it is, then redistributed like the plain one.
      CommDebugMode mode3;
      DTensor xd = DTensor::from_local(randn({1, 8}, gx, DType::Float64), mesh, {Shard(0)});
      out = kwonly(nn::ModuleInputs{{}, {{"x", xd}, {"z", ones({1, 8}, DType::Float64)}}})[0];
      EXPECT_EQ(mode3.total_count(), 2);
      EXPECT_EQ(out.shape(), (Shape{world, 8}));
    });
  }
}

TEST(PrepareModuleOutputStyle, ReplicatedOutputBecomesSharded) {
  for (int world : {2, 3, 4}) {
    sim::run(world, [world](int rank) {
      DeviceMesh mesh({world});
      Identity module;
      parallelize_module(module, mesh,
                         PrepareModuleOutput({.output_layouts = Replicate(),
                                              .desired_output_layouts = Shard(0)}));
      Tensor out = module(ones({8, 16}));
      EXPECT_FALSE(out.is_distributed());
      EXPECT_TRUE(equal(out, block_of(ones({8, 16}), Shard(0), world, rank)));
    });
  }
  expect_error<std::invalid_argument>(
      [] {
        PrepareModuleOutput({.output_layouts = Replicate(),
                             .desired_output_layouts = Layouts{Shard(0), Shard(1)}});
      },
      "output_layouts and desired_output_layouts should have same length!");
}

TEST(SequenceParallelStyle, NormsRunShardedWithPartialParameterGrads) {
  for (int world : {2, 3, 4}) {
    sim::run(world, [world](int) {
      DeviceMesh mesh({world});
      Generator gx(0);
      Tensor global = rand({20, 8 * world, 12}, gx, DType::Float64);
      std::vector<std::pair<std::string, std::function<std::shared_ptr<nn::Module>()>>> norms = {
          {"LayerNorm", [] { return std::make_shared<nn::LayerNorm>(12, 1e-5, true, DType::Float64); }},
          {"LayerNormNoAffine",
           [] { return std::make_shared<nn::LayerNorm>(12, 1e-5, false, DType::Float64); }},
          {"RMSNorm", [] { return std::make_shared<nn::RMSNorm>(12, 1e-6, DType::Float64); }}};
      for (const auto& [name, make] : norms) {
        SCOPED_TRACE(name);
        auto model = make();
        auto ref = make();
        parallelize_module(*model, mesh, SequenceParallel());
        DTensor x = distribute_tensor(global.clone().requires_grad_(), mesh, {Shard(1)});
        CommDebugMode mode;
        Tensor y = (*model)(x);
        ASSERT_TRUE(y.is_distributed());
        EXPECT_EQ(DTensor(y).placements(), (Placements{Shard(1)}));
        sum(y).backward();
        EXPECT_EQ(mode.total_count(), 0);
        Tensor ref_x = global.clone().requires_grad_();
        Tensor y_ref = (*ref)(ref_x);
        sum(y_ref).backward();
        expect_close(DTensor(y).full_tensor(), y_ref.detach(), 1e-10);
        for (const auto& [pname, p] : model->named_parameters()) {
          const DTensor g(p.grad());
          EXPECT_EQ(g.placements(), (Placements{Partial()})) << pname;
          expect_close(g.full_tensor(), ref->get_parameter(pname).grad(), 1e-9);
        }
        expect_close(DTensor(x.grad()).full_tensor(), ref_x.grad(), 1e-10);
      }
    });
  }
}

TEST(SequenceParallelStyle, DropoutKeepsSequenceSharding) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    nn::Dropout dropout(0.5);
    parallelize_module(dropout, mesh, SequenceParallel());
    Generator gx(0);
    DTensor x = distribute_tensor(rand({20, 32, 12}, gx), mesh, {Shard(1)});
    CommDebugMode mode;
    Tensor y = dropout(x);
    EXPECT_EQ(DTensor(y).placements(), (Placements{Shard(1)}));
    EXPECT_EQ(mode.total_count(), 0);
  });
}

TEST(SequenceParallelStyle, InputOnAnotherDimIsRedistributedBothWays) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    nn::RMSNorm norm(12, 1e-6, DType::Float64);
    parallelize_module(norm, mesh, SequenceParallel());
    Generator gx(0);
    Tensor leaf = rand({20, 32, 12}, gx, DType::Float64).requires_grad_();
    DTensor x = distribute_tensor(leaf, mesh, {Shard(0)});
    CommDebugMode mode;
    Tensor y = norm(x);
    EXPECT_EQ(DTensor(y).placements(), (Placements{Shard(1)}));
    sum(y).backward();
    EXPECT_EQ(DTensor(norm.parameter("weight").grad()).placements(), (Placements{Partial()}));
    EXPECT_EQ(mode.total_count(), 2);
  });
}

TEST(ParallelStyles, ReprShowsTheLayouts) {
  EXPECT_EQ(ColwiseParallel().repr(),
            "ColwiseParallel(input_layouts=R, output_layouts=S(-1), use_local_output=true)");
  EXPECT_EQ(RowwiseParallel({.output_layouts = Shard(0)}).repr(),
            "RowwiseParallel(input_layouts=S(-1), output_layouts=S(0), use_local_output=true)");
  EXPECT_EQ(SequenceParallel().repr(), "SequenceParallel(sequence_dim=1, use_local_output=false)");
}

}  // namespace
}  // namespace tensorpar
