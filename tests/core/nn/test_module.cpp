// Module: names, traversal, submodule lookup, hooks, parameter replacement, tying and modes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/dtensor/dtensor.h"
#include "core/nn/layers.h"
#include "core/nn/module.h"
#include "sim/world.h"
#include "support/expect_error.h"

namespace tensorpar::nn {
namespace {

using ::testing::ElementsAre;
using testing::expect_error;

std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

// y = x * scale (+ shift when passed as keyword "shift").
class Scale : public Module {
 public:
  explicit Scale(double s) {
    register_parameter("scale", from_vector<double>({s}, {1}).requires_grad_(true));
  }
  std::string type_name() const override { return "Scale"; }
  std::vector<Tensor> forward(const ModuleInputs& in) override {
    Tensor y = mul(in.args.at(0), parameter("scale"));
    if (const Tensor* shift = in.kwarg("shift")) y = add(y, *shift);
    return {y};
  }
};

class Block : public Module {
 public:
  Block() {
    register_parameter("gain", ones({2}, DType::Float64).requires_grad_(true));
    proj = register_module(
        "proj", std::make_shared<Linear>(2, 2, true, default_generator(), DType::Float64));
    register_buffer("counter", zeros({1}, DType::Float64));
  }
  std::string type_name() const override { return "Block"; }
  std::shared_ptr<Linear> proj;
};

class Net : public Module {
 public:
  Net() {
    layers = register_module("layers", std::make_shared<ModuleList>());
    layers->push_back(std::make_shared<Block>());
    layers->push_back(std::make_shared<Block>());
    head = register_module(
        "head", std::make_shared<Linear>(2, 3, false, default_generator(), DType::Float64));
  }
  std::string type_name() const override { return "Net"; }
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<Linear> head;
};

Tensor vec(std::vector<double> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return from_vector<double>(v, {n});
}

TEST(NnModule, NamedParametersUseFullyQualifiedNamesInDefinitionOrder) {
  Net net;
  EXPECT_THAT(
      names(net.named_parameters()),
      ElementsAre("layers.0.gain", "layers.0.proj.weight", "layers.0.proj.bias", "layers.1.gain",
                  "layers.1.proj.weight", "layers.1.proj.bias", "head.weight"));
  EXPECT_EQ(net.parameters().size(), 7u);
  // Without recursion only the module's own slots; Net has none.
  EXPECT_TRUE(net.named_parameters(false).empty());
  EXPECT_THAT(names(net.layers->at<Block>(0)->named_parameters(false)), ElementsAre("gain"));
  EXPECT_THAT(names(net.named_buffers()), ElementsAre("layers.0.counter", "layers.1.counter"));
}

TEST(NnModule, AbsentBiasIsNotAParameter) {
  Linear fc(2, 3, false);
  EXPECT_THAT(names(fc.named_parameters()), ElementsAre("weight"));
  EXPECT_FALSE(fc.parameter("bias").defined());
}

TEST(NnModule, NamedModulesArePreOrderStartingWithSelf) {
  Net net;
  std::vector<std::string> fqns;
  std::vector<std::string> types;
  for (auto& [fqn, m] : net.named_modules()) {
    fqns.push_back(fqn);
    types.push_back(m->type_name());
  }
  EXPECT_THAT(fqns, ElementsAre("", "layers", "layers.0", "layers.0.proj", "layers.1",
                                "layers.1.proj", "head"));
  EXPECT_THAT(types,
              ElementsAre("Net", "ModuleList", "Block", "Linear", "Block", "Linear", "Linear"));
  EXPECT_EQ(net.named_modules().front().second, &net);
}

TEST(NnModule, SubclassesAreDiscoverableByDynamicCast) {
  Net net;
  int linears = 0;
  for (auto& [fqn, m] : net.named_modules()) {
    if (dynamic_cast<Linear*>(m) != nullptr) ++linears;
  }
  EXPECT_EQ(linears, 3);
}

TEST(NnModule, NamedChildrenAreDirectChildrenOnly) {
  Net net;
  auto children = net.named_children();
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].first, "layers");
  EXPECT_EQ(children[1].first, "head");
  EXPECT_EQ(children[1].second.get(), net.head.get());
}

TEST(NnModule, GetSubmoduleWalksTheDottedPath) {
  Net net;
  EXPECT_EQ(&net.get_submodule(""), &net);
  EXPECT_EQ(&net.get_submodule("layers.1.proj"), net.layers->at<Block>(1)->proj.get());
  EXPECT_EQ(&net.get_submodule("head"), net.head.get());
}

TEST(NnModule, GetSubmoduleErrorNamesPathAndMissingToken) {
  Net net;
  expect_error<std::invalid_argument>(
      [&] { net.get_submodule("layers.7"); },
      "get_submodule: Net has no submodule 'layers.7' (no attribute '7' in ModuleList 'layers')");
  expect_error<std::invalid_argument>(
      [&] { net.get_submodule("layers.0.attn.wq"); },
      "no submodule 'layers.0.attn.wq' (no attribute 'attn' in Block 'layers.0')");
  expect_error<std::invalid_argument>([&] { net.get_submodule("body"); },
                                      "(no attribute 'body' in Net)");
}

TEST(NnModule, GetParameterByFullyQualifiedName) {
  Net net;
  EXPECT_EQ(net.get_parameter("layers.1.proj.bias").impl(),
            net.layers->at<Block>(1)->proj->parameter("bias").impl());
  expect_error<std::invalid_argument>([&] { net.get_parameter("head.wieght"); },
                                      "get_parameter: Linear 'head' has no parameter 'wieght'");
}

TEST(NnModule, UnknownParameterNameIsAnError) {
  Linear fc(2, 2);
  expect_error<std::invalid_argument>([&] { fc.parameter("wieght"); },
                                      "Linear has no parameter 'wieght'");
  expect_error<std::invalid_argument>([&] { fc.set_parameter("wieght", Tensor()); },
                                      "Linear has no parameter 'wieght'");
}

TEST(NnModule, RegisteringATakenOrDottedNameIsAnError) {
  Linear fc(2, 2);
  expect_error<std::invalid_argument>(
      [&] { fc.register_parameter("weight", ones({2})); },
      "register_parameter: Linear already has an attribute 'weight'");
  expect_error<std::invalid_argument>(
      [&] { fc.register_module("weight", std::make_shared<ReLU>()); },
      "register_module: Linear already has an attribute 'weight'");
  expect_error<std::invalid_argument>([&] { fc.register_buffer("a.b", ones({2})); },
                                      "register_buffer: name 'a.b' must not contain '.'");
}

TEST(NnModule, PreHooksRunInRegistrationOrderAndReplacePositionalInputs) {
  Scale m(3.0);
  std::vector<int> order;
  m.register_forward_pre_hook([&](Module&, const ModuleInputs& in) -> std::optional<ModuleInputs> {
    order.push_back(1);
    return ModuleInputs{{add(in.args[0], 1.0)}, in.kwargs};  // x + 1
  });
  m.register_forward_pre_hook(
      [&](Module& self, const ModuleInputs&) -> std::optional<ModuleInputs> {
        order.push_back(2);
        EXPECT_EQ(self.type_name(), "Scale");
        return std::nullopt;  // keeps the inputs
      });
  m.register_forward_pre_hook([&](Module&, const ModuleInputs& in) -> std::optional<ModuleInputs> {
    order.push_back(3);
    return ModuleInputs{{mul(in.args[0], 2.0)}, in.kwargs};  // then * 2
  });
  Tensor y = m(vec({1.0, 2.0}));
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
  EXPECT_EQ(to_vector<double>(y), (std::vector<double>{12.0, 18.0}));  // (x + 1) * 2 * 3
}

TEST(NnModule, PreHookReplacesKeywordInputs) {
  Scale m(2.0);
  m.register_forward_pre_hook([](Module&, const ModuleInputs& in) -> std::optional<ModuleInputs> {
    ModuleInputs out = in;
    Tensor* shift = out.kwarg("shift");
    EXPECT_NE(shift, nullptr);
    *shift = mul(*shift, 10.0);
    return out;
  });
  std::vector<Tensor> y = m(ModuleInputs{{vec({1.0, 2.0})}, {{"shift", vec({1.0, 1.0})}}});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(to_vector<double>(y[0]), (std::vector<double>{12.0, 14.0}));
  ModuleInputs none{{vec({1.0})}, {}};
  EXPECT_EQ(none.kwarg("shift"), nullptr);
}

TEST(NnModule, ForwardHooksSeeReplacedInputsAndReplaceOutputs) {
  Scale m(2.0);
  m.register_forward_pre_hook([](Module&, const ModuleInputs& in) -> std::optional<ModuleInputs> {
    return ModuleInputs{{add(in.args[0], 1.0)}, {}};
  });
  std::vector<double> seen_input;
  m.register_forward_hook(
      [&](Module&, const ModuleInputs& in,
          const std::vector<Tensor>& out) -> std::optional<std::vector<Tensor>> {
        seen_input = to_vector<double>(in.args[0]);
        return std::vector<Tensor>{add(out[0], 100.0), out[0]};
      });
  std::vector<Tensor> calls;
  m.register_forward_hook(
      [&](Module&, const ModuleInputs&,
          const std::vector<Tensor>& out) -> std::optional<std::vector<Tensor>> {
        calls = out;  // sees the first hook's replacement
        return std::nullopt;
      });
  std::vector<Tensor> y = m(ModuleInputs{{vec({1.0})}, {}});
  EXPECT_EQ(seen_input, (std::vector<double>{2.0}));
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[0].item(), 104.0);
  EXPECT_EQ(y[1].item(), 4.0);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].item(), 104.0);
}

TEST(NnModule, RemovedHooksNoLongerRun) {
  Scale m(1.0);
  int pre_calls = 0, post_calls = 0;
  HookHandle pre =
      m.register_forward_pre_hook([&](Module&, const ModuleInputs&) -> std::optional<ModuleInputs> {
        ++pre_calls;
        return std::nullopt;
      });
  HookHandle post = m.register_forward_hook(
      [&](Module&, const ModuleInputs&,
          const std::vector<Tensor>&) -> std::optional<std::vector<Tensor>> {
        ++post_calls;
        return std::nullopt;
      });
  m(vec({1.0}));
  pre.remove();
  m(vec({1.0}));
  post.remove();
  post.remove();  // twice: no effect
  m(vec({1.0}));
  EXPECT_EQ(pre_calls, 1);
  EXPECT_EQ(post_calls, 2);
}

TEST(NnModule, HandleOutlivingItsModuleIsHarmless) {
  HookHandle h;
  {
    Scale m(1.0);
    h = m.register_forward_pre_hook(
        [](Module&, const ModuleInputs&) -> std::optional<ModuleInputs> { return std::nullopt; });
  }
  h.remove();
  SUCCEED();
}

TEST(NnModule, SetParameterIsVisibleInForward) {
  Linear fc(2, 1, false, default_generator(), DType::Float64);
  fc.set_parameter("weight", from_vector<double>({2.0, -1.0}, {1, 2}).requires_grad_(true));
  Tensor y = fc(from_vector<double>({3.0, 4.0}, {1, 2}));
  EXPECT_EQ(y.item(), 2.0);
  Tensor w2 = from_vector<double>({0.0, 1.0}, {1, 2});
  fc.set_parameter("weight", w2);
  EXPECT_EQ(fc(from_vector<double>({3.0, 4.0}, {1, 2})).item(), 4.0);
  EXPECT_EQ(fc.named_parameters()[0].second.impl(), w2.impl());
}

TEST(NnModule, TiedWeightIsListedOnceUnderItsFirstName) {
  Sequential seq;
  auto a = std::make_shared<Linear>(2, 2, false);
  auto b = std::make_shared<Linear>(2, 2, true);
  seq.push_back(a);
  seq.push_back(b);
  b->set_parameter("weight", a->parameter("weight"));
  EXPECT_THAT(names(seq.named_parameters()), ElementsAre("0.weight", "1.bias"));
  // Each module still sees it among its own parameters.
  EXPECT_THAT(names(b->named_parameters()), ElementsAre("weight", "bias"));
}

TEST(NnModule, SharedSubmoduleIsListedOnce) {
  Sequential seq;
  auto shared = std::make_shared<Linear>(2, 2);
  seq.push_back(shared);
  seq.push_back(shared);
  EXPECT_EQ(seq.named_modules().size(), 2u);  // "" and "0"
  EXPECT_THAT(names(seq.named_parameters()), ElementsAre("0.weight", "0.bias"));
}

TEST(NnModule, TrainAndEvalPropagateToDescendants) {
  Net net;
  EXPECT_TRUE(net.is_training());
  net.eval();
  for (auto& [fqn, m] : net.named_modules()) EXPECT_FALSE(m->is_training()) << fqn;
  net.layers->train();
  EXPECT_FALSE(net.is_training());
  EXPECT_TRUE(net.get_submodule("layers.1.proj").is_training());
  EXPECT_FALSE(net.head->is_training());
  net.train(true);
  for (auto& [fqn, m] : net.named_modules()) EXPECT_TRUE(m->is_training()) << fqn;
}

TEST(NnModule, ZeroGradSetsGradientsToNone) {
  Net net;
  Tensor x = ones({1, 2}, DType::Float64);
  Tensor y = (*net.head)((*net.layers->at<Block>(0)->proj)(x));
  sum(y).backward();
  EXPECT_TRUE(net.head->parameter("weight").grad().defined());
  EXPECT_TRUE(net.get_parameter("layers.0.proj.bias").grad().defined());
  net.zero_grad();
  for (auto& [fqn, p] : net.named_parameters()) EXPECT_FALSE(p.grad().defined()) << fqn;
}

TEST(NnModule, ApplyVisitsChildrenBeforeParents) {
  Net net;
  std::vector<std::string> types;
  net.apply([&](Module& m) { types.push_back(m.type_name()); });
  EXPECT_THAT(types,
              ElementsAre("Linear", "Block", "Linear", "Block", "ModuleList", "Linear", "Net"));
}

TEST(NnModule, ForwardRejectsWrongArity) {
  Linear fc(2, 2);
  expect_error<std::invalid_argument>(
      [&] {
        fc(ModuleInputs{{ones({1, 2}), ones({1, 2})}, {}});
      },
      "Linear.forward: expected 1 positional input, got 2");
}

// What ColwiseParallel does to a Linear: the weight slot now holds a Shard(0) DTensor and the
// next forward uses it, producing a Shard(-1) output equal to the plain one.
TEST(NnModule, ForwardUsesADTensorSwappedIntoASlot) {
  sim::run(2, [](int) {
    Generator gen(3);
    Linear fc(4, 6, true, gen, DType::Float64);
    Generator xg(4);
    Tensor x = randn({3, 4}, xg, DType::Float64);
    Tensor expected = fc(x);
    DeviceMesh mesh({2});
    for (const char* name : {"weight", "bias"}) {
      Tensor sharded = distribute_tensor(fc.parameter(name).detach(), mesh, {Shard(0)});
      sharded.requires_grad_(true);
      fc.set_parameter(name, sharded);
    }
    EXPECT_TRUE(fc.parameter("weight").is_distributed());
    DTensor y(fc(DTensor::from_local(x, mesh, {Replicate()})));
    EXPECT_EQ(y.placements(), (Placements{Shard(1)}));
    EXPECT_LT(max_abs_diff(y.full_tensor(), expected), 1e-12);
    sum(y).backward();
    DTensor wgrad(fc.parameter("weight").grad());
    EXPECT_EQ(wgrad.placements(), (Placements{Shard(0)}));
  });
}

}  // namespace
}  // namespace tensorpar::nn
