#pragma once
// Small modules and helpers shared by the style suites (PyTorch's test modules: nn.Identity, a
// two-input module, keyword-input modules).
#include <gtest/gtest.h>

#include <memory>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/nn/layers.h"
#include "core/tensor/philox.h"
#include "support/expect_error.h"

namespace tensorpar::style_testing {

using testing::expect_error;

class Identity : public nn::Module {
 public:
  std::string type_name() const override { return "Identity"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& in) override { return in.args; }
};

// forward(x, y) = linear(x) + y.
class TwoInput : public nn::Module {
 public:
  explicit TwoInput(std::int64_t features, Generator& gen)
      : linear(register_module("linear", std::make_shared<nn::Linear>(features, features, true, gen,
                                                                       DType::Float64))) {}
  std::string type_name() const override { return "TwoInput"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& in) override {
    return {add((*linear)(in.args.at(0)), in.args.at(1))};
  }
  std::shared_ptr<nn::Linear> linear;
};

// forward(x, *, y, z = 2) = linear(x) + y + z.
class KwargModule : public nn::Module {
 public:
  explicit KwargModule(Generator& gen)
      : linear(register_module("linear",
                               std::make_shared<nn::Linear>(8, 8, true, gen, DType::Float64))) {}
  std::string type_name() const override { return "KwargModule"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& in) override {
    const Tensor* y = in.kwarg("y");
    const Tensor* z = in.kwarg("z");
    Tensor out = add((*linear)(in.args.at(0)), *y);
    return {z != nullptr ? add(out, *z) : add(out, 2.0)};
  }
  std::shared_ptr<nn::Linear> linear;
};

// forward(*, x, y = 2, z) = linear(x) + y + z.
class KwargOnlyModule : public nn::Module {
 public:
  explicit KwargOnlyModule(Generator& gen)
      : linear(register_module("linear",
                               std::make_shared<nn::Linear>(8, 8, true, gen, DType::Float64))) {}
  std::string type_name() const override { return "KwargOnlyModule"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& in) override {
    const Tensor* y = in.kwarg("y");
    Tensor out = (*linear)(*in.kwarg("x"));
    out = y != nullptr ? add(out, *y) : add(out, 2.0);
    return {add(out, *in.kwarg("z"))};
  }
  std::shared_ptr<nn::Linear> linear;
};

inline std::map<std::string, std::int64_t> counts(const CommDebugMode& mode, CommPhase phase) {
  return mode.counts_by_name(phase);
}

using Counts = std::map<std::string, std::int64_t>;

// The local block of `global` this rank holds under `placement` on a 1-D mesh of `world`.
inline Tensor block_of(const Tensor& global, const Placement& placement, int world, int rank) {
  if (!placement.is_shard()) return global;
  std::int64_t dim = placement.dim() < 0 ? placement.dim() + global.dim() : placement.dim();
  auto chunks = global.chunk(world, dim);
  if (static_cast<std::size_t>(rank) < chunks.size()) return chunks[rank].clone();
  Shape empty = global.shape();
  empty[dim] = 0;
  return zeros(empty, global.dtype());
}

inline void expect_close(const Tensor& actual, const Tensor& expected, double tol = 1e-12) {
  ASSERT_EQ(actual.shape(), expected.shape());
  EXPECT_LE(max_abs_diff(actual, expected), tol);
}

}  // namespace tensorpar::style_testing
