// PyTorch's test_parallelize_api.py (reference section 9.2), translated: plans by FQN pattern,
// the root key, unmatched keys, src_data_rank, the mesh checks; every parallelized module is
// compared with the single-device one (output, gradients, parameters after an SGD step).
#include <gtest/gtest.h>

#include "core/autograd/autograd.h"
#include "core/optim/sgd.h"
#include "core/base/warning.h"
#include "sim/world.h"
#include "style_testing.h"
#include "styles/parallel.h"

namespace tensorpar {
namespace {

using namespace style_testing;

// PyTorch's _compare_module: the parallel and the plain module agree on parameters, the forward
// output, the gradients of sum(output) and the parameters after one SGD(lr 0.25) step.
void compare_module(nn::Module& model, nn::Module& ref, const Tensor& input,
                    const Tensor& ref_input) {
  auto whole = [](const Tensor& t) { return t.is_distributed() ? DTensor(t).full_tensor() : t; };
  auto same_params = [&] {
    for (const auto& [name, p] : ref.named_parameters()) {
      SCOPED_TRACE(name);
      expect_close(whole(model.get_parameter(name)).detach(), p.detach(), 1e-10);
    }
  };
  same_params();
  nn::ModuleInputs in{{input}, {}};
  Tensor out = model(in)[0];
  Tensor out_ref = ref(ref_input);
  expect_close(whole(out).detach(), out_ref.detach(), 1e-10);
  sum(out.is_distributed() ? DTensor(out).full_tensor() : out).backward();
  sum(out_ref).backward();
  for (const auto& [name, p] : ref.named_parameters()) {
    SCOPED_TRACE(name);
    expect_close(whole(model.get_parameter(name).grad()), p.grad(), 1e-10);
  }
  optim::SGD(model.parameters(), {.lr = 0.25}).step();
  optim::SGD(ref.parameters(), {.lr = 0.25}).step();
  same_params();
}

std::shared_ptr<nn::MLP> make_mlp() {
  Generator gen(5);
  return std::make_shared<nn::MLP>(10, 16, 10, true, gen, DType::Float64);
}

Tensor input(const Shape& shape, std::uint64_t seed = 0) {
  Generator gen(seed);
  return rand(shape, gen, DType::Float64);
}

// Colwise feeding Rowwise: 16 hidden features split 6, 6, 4 on 3 ranks, so the Colwise output
// stays a DTensor there (a local tensor would be read back as evenly sharded, 18 wide).
ColwiseParallelOptions colwise_into_rowwise(int world, ColwiseParallelOptions o = {}) {
  if (world == 3) o.use_local_output = false;
  return o;
}

// Runs `body(world, rank)` at world sizes 4, 2 and 3.
template <class F>
void for_worlds(F body) {
  for (int world : {4, 2, 3}) {
    SCOPED_TRACE("world " + std::to_string(world));
    sim::run(world, [&](int rank) { body(world, rank); });
  }
}

TEST(ParallelizeModule, MlpWithColwisePlan) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    auto model = make_mlp();
    auto ref = make_mlp();
    parallelize_module(*model, mesh,
                       {{"net1", ColwiseParallel({.output_layouts = Replicate()})},
                        {"net2", ColwiseParallel({.output_layouts = Replicate()})}});
    Tensor x = input({12, 10});
    compare_module(*model, *ref, x, x);
  });
}

// Sequential(OrderedDict(dummy_encoder=MLP)) in PyTorch's test.
class Encoder : public nn::Module {
 public:
  Encoder() : dummy_encoder(register_module("dummy_encoder", make_mlp())) {}
  std::string type_name() const override { return "Encoder"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& in) override { return (*dummy_encoder)(in); }
  std::shared_ptr<nn::MLP> dummy_encoder;
};

TEST(ParallelizeModule, NestedKeys) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    Encoder model, ref;
    parallelize_module(model, mesh,
                       {{"dummy_encoder.net1", ColwiseParallel({.output_layouts = Replicate()})},
                        {"dummy_encoder.net2", ColwiseParallel({.output_layouts = Replicate()})}});
    EXPECT_TRUE(model.get_parameter("dummy_encoder.net1.weight").is_distributed());
    Tensor x = input({12, 10});
    compare_module(model, ref, x, x);
  });
}

TEST(ParallelizeModule, LinearRowwise) {
  for_worlds([](int world, int rank) {
    DeviceMesh mesh({world});
    const std::int64_t in = world == 3 ? 18 : 16;
    Generator g1(5), g2(5);
    nn::Linear model(in, 10, true, g1, DType::Float64), ref(in, 10, true, g2, DType::Float64);
    parallelize_module(model, mesh, RowwiseParallel());
    Tensor x = input({9, in}, 1);
    compare_module(model, ref, block_of(x, Shard(-1), world, rank), x);
  });
}

TEST(ParallelizeModule, LinearColwise) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    Generator g1(5), g2(5);
    nn::Linear model(10, 16, true, g1, DType::Float64), ref(10, 16, true, g2, DType::Float64);
    parallelize_module(model, mesh, ColwiseParallel({.output_layouts = Replicate()}));
    Tensor x = input({8, 10});
    compare_module(model, ref, x, x);
  });
}

TEST(ParallelizeModule, PrepareModuleInputGathers) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    Identity module;
    parallelize_module(module, mesh,
                       PrepareModuleInput({.input_layouts = Shard(0),
                                           .desired_input_layouts = Replicate()}));
    Tensor x = input({5, 7});
    DTensor out(module(x));
    EXPECT_TRUE(equal(out.redistribute({Shard(0)}).to_local(), x));
  });
}

TEST(ParallelizeModule, PrepareModuleOutputShards) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    Identity module;
    parallelize_module(module, mesh,
                       PrepareModuleOutput({.output_layouts = Replicate(),
                                            .desired_output_layouts = Shard(0)}));
    DTensor dt = DTensor::from_local(input({16, 7}), mesh, {Replicate()});
    EXPECT_TRUE(equal(module(dt), dt.redistribute({Shard(0)}).to_local()));
  });
}

TEST(ParallelizeModule, PrepareModuleInputOutput) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    Identity module;
    parallelize_module(module, mesh,
                       PrepareModuleInputOutput({.input_layouts = Shard(0),
                                                 .desired_input_layouts = Replicate(),
                                                 .output_layouts = Replicate(),
                                                 .desired_output_layouts = Shard(1)}));
    Tensor x = input({5, 7});
    EXPECT_TRUE(equal(module(x),
                      DTensor::from_local(x, mesh, {Shard(0)}).redistribute({Shard(1)}).to_local()));
  });
}

void check_pattern_plan(const std::string& key) {
  for_worlds([&](int world, int) {
    DeviceMesh mesh({world});
    auto model = make_mlp();
    auto ref = make_mlp();
    parallelize_module(*model, mesh, {{key, ColwiseParallel({.output_layouts = Replicate()})}});
    EXPECT_TRUE(model->get_parameter("net1.weight").is_distributed()) << key;
    EXPECT_TRUE(model->get_parameter("net2.weight").is_distributed()) << key;
    Tensor x = input({12, 10});
    compare_module(*model, *ref, x, x);
  });
}

TEST(ParallelizeModule, StarPattern) { check_pattern_plan("net*"); }
TEST(ParallelizeModule, QuestionPattern) { check_pattern_plan("net?"); }
TEST(ParallelizeModule, DigitRangePattern) { check_pattern_plan("net[1-2]"); }

TEST(ParallelizeModule, SrcDataRankTakesParametersFromThatRank) {
  sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    // Every rank initialises differently; rank 1's values must win.
    Generator gen(100 + rank);
    nn::MLP model(10, 16, 10, true, gen, DType::Float64);
    std::vector<std::pair<std::string, Tensor>> before;
    for (const auto& [name, p] : model.named_parameters()) before.emplace_back(name, p.clone());
    CommDebugMode mode;
    parallelize_module(model, mesh, {{"net*", ColwiseParallel({.output_layouts = Replicate()})}},
                       /*src_data_rank=*/1);
    EXPECT_GT(mode.total_count(), 0);
    for (const auto& [name, original] : before) {
      Tensor whole = DTensor(model.get_parameter(name)).full_tensor();
      if (rank == 1) {
        EXPECT_TRUE(equal(whole, original)) << name;
      }
    }
  });
}

TEST(ParallelizeModule, SrcDataRankNoneCommunicatesNothing) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    auto model = make_mlp();
    CommDebugMode mode;
    parallelize_module(*model, mesh, {{"net1", ColwiseParallel()}, {"net2", RowwiseParallel()}},
                       std::nullopt);
    EXPECT_EQ(mode.total_count(), 0);
    auto ref = make_mlp();
    Tensor x = input({8, 10});
    expect_close((*model)(x), (*ref)(x), 1e-10);
  });
}

// PyTorch's MLPStacked: layers = ModuleList of MLPs.
class MLPStacked : public nn::Module {
 public:
  explicit MLPStacked(int n_layers) {
    layers = register_module("layers", std::make_shared<nn::ModuleList>());
    for (int i = 0; i < n_layers; ++i) layers->push_back(make_mlp());
  }
  std::string type_name() const override { return "MLPStacked"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& in) override {
    Tensor x = in.args.at(0);
    for (const auto& layer : *layers) x = (*layer)(x);
    return {x};
  }
  std::shared_ptr<nn::ModuleList> layers;
};

TEST(ParallelizeModule, MultiWildcardAcrossLayers) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    MLPStacked model(2), ref(2);
    parallelize_module(model, mesh,
                       {{"layers.*.net[1]", ColwiseParallel(colwise_into_rowwise(world))},
                        {"layers.*.net[2]", RowwiseParallel()}});
    for (const char* name : {"layers.0.net1.weight", "layers.1.net1.weight"}) {
      EXPECT_EQ(DTensor(model.get_parameter(name)).placements(), (Placements{Shard(0)})) << name;
    }
    for (const char* name : {"layers.0.net2.weight", "layers.1.net2.weight"}) {
      EXPECT_EQ(DTensor(model.get_parameter(name)).placements(), (Placements{Shard(1)})) << name;
    }
    Tensor x = input({8, 10});
    compare_module(model, ref, x, x);
  });
}

TEST(ParallelizeModule, RootKeyAppliesToTheModuleItself) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    auto model = make_mlp();
    auto ref = make_mlp();
    parallelize_module(
        *model, mesh,
        {{"", PrepareModuleInputOutput({.input_layouts = Replicate(),
                                        .desired_input_layouts = Shard(0),
                                        .output_layouts = Shard(0),
                                        .desired_output_layouts = Replicate(),
                                        .use_local_output = true})},
         {"net1", ColwiseParallel(colwise_into_rowwise(world, {.input_layouts = Shard(0)}))},
         {"net2", RowwiseParallel({.output_layouts = Shard(0), .use_local_output = world != 3})}});
    Tensor x = input({16, 10});
    compare_module(*model, *ref, x, x);
  });
}

TEST(ParallelizeModule, UnmatchedKeysWarnAndAreSkipped) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    auto model = make_mlp();
    auto ref = make_mlp();
    WarningCapture warnings;
    parallelize_module(*model, mesh,
                       {{"net0.hello.world", ColwiseParallel()},
                        {"net1", ColwiseParallel(colwise_into_rowwise(world))},
                        {"net2", RowwiseParallel()},
                        {"net3", ColwiseParallel()}});
    ASSERT_EQ(warnings.messages().size(), 2u);
    EXPECT_EQ(warnings.messages()[0],
              "Parallelize plan key 'net0.hello.world' could not be resolved: no submodule "
              "matching token 'net0' in module MLP, skipping this plan entry.");
    EXPECT_TRUE(warnings.contains("Parallelize plan key 'net3' could not be resolved"));
    Tensor x = input({8, 10});
    compare_module(*model, *ref, x, x);
  });
}

TEST(ParallelizeModule, UnmatchedDeepTokenNamesTheModuleWhereMatchingStopped) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    MLPStacked model(2);
    WarningCapture warnings;
    parallelize_module(model, mesh, {{"layers.*.net9", ColwiseParallel()}});
    ASSERT_EQ(warnings.messages().size(), 2u);  // once per layer reached
    EXPECT_TRUE(warnings.contains("no submodule matching token 'net9' in module MLP 'layers.0'"));
  });
}

TEST(ParallelizeModule, UsesTheMeshOfTheEnclosingMeshScope) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    Generator g1(5), g2(5);
    nn::Linear model(10, 16, true, g1, DType::Float64), ref(10, 16, true, g2, DType::Float64);
    {
      MeshScope scope(mesh);
      parallelize_module(model, ColwiseParallel({.output_layouts = Replicate()}));
    }
    Tensor x = input({8, 10});
    compare_module(model, ref, x, x);
  });
}

TEST(ParallelizeModule, NoPlanWarnsAndChangesNothing) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    auto model = make_mlp();
    {
      WarningCapture warnings;
      parallelize_module(*model, mesh);
      EXPECT_TRUE(warnings.contains("No parallelize_plan is provided"));
    }
    {
      WarningCapture warnings;
      parallelize_module(*model, mesh, ParallelizePlan{});
      EXPECT_EQ(warnings.messages().size(), 1u);
    }
    for (const auto& [name, p] : model->named_parameters()) EXPECT_FALSE(p.is_distributed());
  });
}

TEST(ParallelizeModule, RejectsMultiDimMeshSuggestingTheTpSubMesh) {
  sim::run(4, [](int) {
    DeviceMesh mesh({2, 2}, {"dp", "tp"});
    auto model = make_mlp();
    expect_error<std::invalid_argument>(
        [&] { parallelize_module(*model, mesh, {{"net1", ColwiseParallel()}}); },
        "Tensor Parallel only accepts a 1D DeviceMesh, but found 2D!");
    expect_error<std::invalid_argument>(
        [&] { parallelize_module(*model, mesh, {{"net1", ColwiseParallel()}}); },
        "device_mesh[\"tp\"]");
    // The tp sub-mesh works.
    parallelize_module(*model, mesh["tp"], {{"net1", ColwiseParallel()}});
    EXPECT_TRUE(model->get_parameter("net1.weight").is_distributed());
  });
}

TEST(ParallelizeModule, WithoutMeshOrScopeIsAnError) {
  auto model = make_mlp();
  expect_error<std::runtime_error>([&] { parallelize_module(*model, ColwiseParallel()); },
                                   "no device mesh given and no MeshScope active");
}

TEST(ParallelizeModule, AllMatchesShareOneStyleObject) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    MLPStacked model(2);
    auto style = std::make_shared<RowwiseParallel>();
    parallelize_module(model, mesh, {{"layers.*.net2", style}}, std::nullopt);
    EXPECT_EQ(style->src_data_rank, std::nullopt);
    EXPECT_EQ(DTensor(model.get_parameter("layers.1.net2.weight")).placements(),
              (Placements{Shard(1)}));
  });
}

TEST(ParallelizeModule, CollectivesAreAttributedToModuleFqns) {
  sim::run(4, [](int) {
    DeviceMesh mesh({4});
    MLPStacked model(2);
    parallelize_module(model, mesh,
                       {{"layers.*.net1", ColwiseParallel()}, {"layers.*.net2", RowwiseParallel()}});
    Tensor x = input({8, 10}).requires_grad_();
    CommDebugMode forward;
    Tensor y = model(x);
    const auto by_module = forward.counts_by_module();
    EXPECT_EQ(by_module.at("layers.0.net2"), (Counts{{"all_reduce", 1}}));
    EXPECT_EQ(by_module.at("layers.1.net2"), (Counts{{"all_reduce", 1}}));
    EXPECT_EQ(by_module.size(), 2u);
    // Backward: the all_reduce of each Colwise input gradient belongs to the module whose
    // forward created that node.
    CommDebugMode backward;
    sum(y).backward();
    for (const auto& r : backward.records()) EXPECT_EQ(r.phase, CommPhase::Backward);
    EXPECT_EQ(backward.counts_by_module(),
              (std::map<std::string, Counts>{{"layers.0.net1", {{"all_reduce", 1}}},
                                             {"layers.1.net1", {{"all_reduce", 1}}}}));
  });
}

// An embedding and a projection sharing one (vocab, dim) weight, as the Transformer ties them.
class Tied : public nn::Module {
 public:
  Tied() {
    Generator gen(1);
    emb = register_module("emb", std::make_shared<nn::Embedding>(12, 6, gen, DType::Float64));
    out = register_module("out", std::make_shared<nn::Linear>(6, 12, false, gen, DType::Float64));
    out->set_parameter("weight", emb->parameter("weight"));
  }
  std::string type_name() const override { return "Tied"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& in) override {
    return {(*out)((*emb)(in.args.at(0)))};
  }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Linear> out;
};

TEST(ParallelizeModule, TiedParameterStaysOneParameterWithOneGradient) {
  for_worlds([](int world, int) {
    DeviceMesh mesh({world});
    Tied model, ref;
    parallelize_module(model, mesh,
                       {{"emb", RowwiseParallel({.input_layouts = Replicate()})},
                        {"out", ColwiseParallel({.output_layouts = Replicate()})}});
    ASSERT_EQ(model.emb->parameter("weight").impl(), model.out->parameter("weight").impl());
    EXPECT_EQ(model.named_parameters().size(), 1u);
    Tensor idx = from_vector(std::vector<std::int64_t>{0, 5, 11, 7, 3}, {5});
    compare_module(model, ref, idx, idx);
  });
}

TEST(ParallelizeModule, TiedParameterWithDifferentPlacementsWarnsAndSplits) {
  sim::run(2, [](int) {
    DeviceMesh mesh({2});
    Tied model;
    WarningCapture warnings;
    parallelize_module(model, mesh,
                       {{"emb", ColwiseParallel()}, {"out", ColwiseParallel()}});
    EXPECT_TRUE(warnings.contains("distributed as [S(1)] and as [S(0)]"));
    EXPECT_NE(model.emb->parameter("weight").impl(), model.out->parameter("weight").impl());
  });
}

TEST(Fnmatch, ShellGlobRulesOnOneToken) {
  EXPECT_TRUE(fnmatch("net1", "net*"));
  EXPECT_TRUE(fnmatch("net", "net*"));
  EXPECT_TRUE(fnmatch("net1", "net?"));
  EXPECT_FALSE(fnmatch("net12", "net?"));
  EXPECT_TRUE(fnmatch("net2", "net[1-2]"));
  EXPECT_FALSE(fnmatch("net3", "net[1-2]"));
  EXPECT_TRUE(fnmatch("net3", "net[!1-2]"));
  EXPECT_TRUE(fnmatch("w1", "w[13]"));
  EXPECT_FALSE(fnmatch("w2", "w[13]"));
  EXPECT_TRUE(fnmatch("a[b", "a[b"));  // an unclosed class is literal
  EXPECT_TRUE(fnmatch("feed_forward", "*_*"));
  EXPECT_FALSE(fnmatch("Net1", "net*"));  // case-sensitive
  EXPECT_TRUE(fnmatch("", "*"));
  EXPECT_FALSE(fnmatch("", "?"));
}

}  // namespace
}  // namespace tensorpar
