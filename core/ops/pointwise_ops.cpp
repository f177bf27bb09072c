// Element-wise ops: arithmetic with broadcasting, scalar arithmetic, unary functions, pow,
// clone, dtype conversion and dropout.
#include <cmath>

#include "core/autograd/autograd.h"
#include "core/ops/ops.h"
#include "core/base/error.h"
#include "core/base/rank_context.h"
#include "core/kernels/elementwise.h"
#include "core/kernels/random_block.h"
#include "core/ops/op.h"
#include "core/ops/sharding.h"
#include "core/tensor/philox.h"

namespace tensorpar {

namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
  }
  return "?";
}

void require_input(const Tensor& t, const char* what, const char* arg) {
  check_arg(t.defined(), what, ": ", arg, " is undefined");
}

// a op b with broadcasting.
class BinaryDef final : public OpDef {
 public:
  explicit BinaryDef(BinaryOp op) : op_(op) {}
  const char* name() const override { return binary_op_name(op_); }
  void rule_key(std::string& key) const override { key += char('0' + int(op_)); }

  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor& a = in[0];
    const Tensor& b = in[1];
    if (ctx.recording) {
      if (op_ == BinaryOp::Mul || op_ == BinaryOp::Div) ctx.saved = {a, b};
      ctx.shape = a.shape();
      ctx.ints.assign(b.shape().begin(), b.shape().end());
    }
    // Equal shapes take every dtype (bfloat16, int64 division); broadcasting the float and
    // int64 arithmetic.
    if (a.shape() == b.shape()) return {kernels::binary_every_dtype(op_, a, b)};
    return {kernels::binary(op_, a, b, name())};
  }

  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>& need) const override {
    const Tensor& g = grads[0];
    const Shape& a_shape = ctx.shape;
    const Shape b_shape(ctx.ints.begin(), ctx.ints.end());
    Tensor ga, gb;
    switch (op_) {
      case BinaryOp::Add:
        if (need[0]) ga = kernels::sum_to_shape(g, a_shape);
        if (need[1]) gb = kernels::sum_to_shape(g, b_shape);
        break;
      case BinaryOp::Sub:
        if (need[0]) ga = kernels::sum_to_shape(g, a_shape);
        if (need[1]) gb = kernels::sum_to_shape(kernels::unary(UnaryOp::Neg, g), b_shape);
        break;
      case BinaryOp::Mul:
        if (need[0]) ga = kernels::sum_to_shape(kernels::binary(BinaryOp::Mul, g, ctx.saved[1], "mul"), a_shape);
        if (need[1]) gb = kernels::sum_to_shape(kernels::binary(BinaryOp::Mul, g, ctx.saved[0], "mul"), b_shape);
        break;
      case BinaryOp::Div: {
        const Tensor& a = ctx.saved[0];
        const Tensor& b = ctx.saved[1];
        const Tensor g_over_b = kernels::binary(BinaryOp::Div, g, b, "div");
        if (need[0]) ga = kernels::sum_to_shape(g_over_b, a_shape);
        if (need[1]) {
          // d(a/b)/db = -a / b^2
          Tensor t = kernels::binary(BinaryOp::Mul, g_over_b, kernels::binary(BinaryOp::Div, a, b, "div"), "div");
          gb = kernels::sum_to_shape(kernels::unary(UnaryOp::Neg, t), b_shape);
        }
        break;
      }
    }
    return {ga, gb};
  }

  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    Linearity lin = Linearity::Additive;
    if (op_ == BinaryOp::Mul) lin = Linearity::Product;
    if (op_ == BinaryOp::Div) lin = Linearity::Numerator;
    return pointwise_rule(in, lin, name());
  }

 private:
  BinaryOp op_;
};

// a op s, or s op a (reversed).
class ScalarDef final : public OpDef {
 public:
  ScalarDef(BinaryOp op, double s, bool reversed) : op_(op), s_(s), reversed_(reversed) {}
  const char* name() const override {
    if (reversed_) return op_ == BinaryOp::Sub ? "rsub" : "rdiv";
    return binary_op_name(op_);
  }
  void rule_key(std::string& key) const override {
    key += char('0' + int(op_));
    key += reversed_ ? 'r' : 'f';
  }

  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor& a = in[0];
    if (reversed_) {
      Tensor y = kernels::scalar_binary(op_, s_, a);
      if (ctx.recording && op_ == BinaryOp::Div) ctx.saved = {y};
      return {y};
    }
    return {kernels::binary_scalar_every_dtype(op_, a, s_)};
  }

  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    const Tensor& g = grads[0];
    if (reversed_) {
      if (op_ == BinaryOp::Sub) return {kernels::unary(UnaryOp::Neg, g)};
      // d(s/a)/da = -s/a^2 = -y^2/s ... computed as -y * y / s when s != 0, else 0.
      const Tensor& y = ctx.saved[0];
      if (s_ == 0) return {kernels::binary_scalar(BinaryOp::Mul, g, 0.0)};
      Tensor t = kernels::binary(BinaryOp::Mul, y, y, "rdiv");
      t = kernels::binary_scalar(BinaryOp::Mul, t, -1.0 / s_);
      return {kernels::binary(BinaryOp::Mul, g, t, "rdiv")};
    }
    switch (op_) {
      case BinaryOp::Add:
      case BinaryOp::Sub:
        return {g};
      case BinaryOp::Mul:
        return {kernels::binary_scalar(BinaryOp::Mul, g, s_)};
      case BinaryOp::Div:
        return {kernels::binary_scalar(BinaryOp::Div, g, s_)};
    }
    return {};
  }

  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    // Scaling is linear; adding a constant (or s - a, s / a) is not.
    const bool linear = !reversed_ && (op_ == BinaryOp::Mul || op_ == BinaryOp::Div);
    return pointwise_rule(in, linear ? Linearity::Unary : Linearity::None, name());
  }

 private:
  BinaryOp op_;
  double s_;
  bool reversed_;
};

class UnaryDef final : public OpDef {
 public:
  explicit UnaryDef(UnaryOp op) : op_(op) {}
  const char* name() const override { return kernels::unary_name(op_); }
  void rule_key(std::string& key) const override { key += char('a' + int(op_)); }

  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    Tensor y = kernels::unary(op_, in[0]);
    if (ctx.recording) ctx.saved = {in[0], y};
    return {y};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    return {kernels::unary_backward(op_, grads[0], ctx.saved[0], ctx.saved[1])};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    return pointwise_rule(in, op_ == UnaryOp::Neg ? Linearity::Unary : Linearity::None, name());
  }

 private:
  UnaryOp op_;
};

class PowDef final : public OpDef {
 public:
  explicit PowDef(double e) : e_(e) {}
  const char* name() const override { return "pow"; }
  // The rule reads whether the exponent is 1 (then pow is linear and keeps Partial).
  void rule_key(std::string& key) const override { key += e_ == 1.0 ? '1' : 'n'; }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    if (ctx.recording) ctx.saved = {in[0]};
    return {kernels::pow_scalar(in[0], e_)};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    return {kernels::pow_scalar_backward(grads[0], ctx.saved[0], e_)};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    return pointwise_rule(in, e_ == 1.0 ? Linearity::Unary : Linearity::None, name());
  }

 private:
  double e_;
};

// clone and dtype conversion: identity-like, linear.
class CopyDef final : public OpDef {
 public:
  explicit CopyDef(std::optional<DType> dtype) : dtype_(dtype) {}
  const char* name() const override { return dtype_ ? "to" : "clone"; }
  void rule_key(std::string& key) const override {
    if (dtype_) key += dtype_name(*dtype_);
  }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    if (ctx.recording) ctx.ints = {static_cast<std::int64_t>(in[0].dtype())};
    NoGradGuard no_grad;
    Tensor x = in[0].detach();
    if (!dtype_) return {x.clone()};
    return {x.dtype() == *dtype_ ? x.clone() : x.to(*dtype_)};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    const DType original = static_cast<DType>(ctx.ints.at(0));
    return {grads[0].dtype() == original ? grads[0] : grads[0].to(original)};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    return pointwise_rule(in, Linearity::Unary, name());
  }

 private:
  std::optional<DType> dtype_;
};

// Dropout by global element index (see ops.h). On a DTensor each rank draws its block's
// global indices, so shards and replicas agree with the single-device mask.
class DropoutDef final : public OpDef {
 public:
  DropoutDef(double p, std::uint64_t seed, std::uint64_t base) : p_(p), seed_(seed), base_(base) {}
  const char* name() const override { return "dropout"; }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor& x = in[0];
    kernels::GlobalBlock block;
    if (ctx.shard) {
      block.global_shape = ctx.shard->inputs[0]->shape;
      block.offsets = ctx.shard->input_offsets(0);
    }
    Tensor mask = kernels::dropout_mask(x.shape(), x.dtype(), p_, seed_, base_, block, x.device());
    if (ctx.recording) ctx.saved = {mask};
    return {kernels::binary(BinaryOp::Mul, x, mask, "dropout")};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    return {kernels::binary(BinaryOp::Mul, grads[0], ctx.saved[0], "dropout")};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    return pointwise_rule(in, Linearity::Unary, name());
  }

 private:
  double p_;
  std::uint64_t seed_;
  std::uint64_t base_;
};

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b) {
  require_input(a, binary_op_name(op), "a");
  require_input(b, binary_op_name(op), "b");
  check_arg(a.dtype() == b.dtype(), binary_op_name(op), ": dtype mismatch ", dtype_name(a.dtype()),
            " vs ", dtype_name(b.dtype()));
  return apply_op1(BinaryDef(op), {a, b});
}

Tensor scalar_op(BinaryOp op, const Tensor& a, double s, bool reversed) {
  require_input(a, reversed ? (op == BinaryOp::Sub ? "rsub" : "rdiv") : binary_op_name(op), "a");
  return apply_op1(ScalarDef(op, s, reversed), {a});
}

Tensor unary_op(UnaryOp op, const Tensor& x) {
  require_input(x, kernels::unary_name(op), "x");
  return apply_op1(UnaryDef(op), {x});
}

struct DefaultGenerator {
  Generator generator{0};
};
constexpr RankContext::Slot<DefaultGenerator> kGeneratorSlot{RankSlot::Generator};

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Div, a, b); }
Tensor add(const Tensor& a, double s) { return scalar_op(BinaryOp::Add, a, s, false); }
Tensor sub(const Tensor& a, double s) { return scalar_op(BinaryOp::Sub, a, s, false); }
Tensor mul(const Tensor& a, double s) { return scalar_op(BinaryOp::Mul, a, s, false); }
Tensor div(const Tensor& a, double s) { return scalar_op(BinaryOp::Div, a, s, false); }
Tensor rsub(double s, const Tensor& a) { return scalar_op(BinaryOp::Sub, a, s, true); }
Tensor rdiv(double s, const Tensor& a) { return scalar_op(BinaryOp::Div, a, s, true); }
Tensor neg(const Tensor& a) { return unary_op(UnaryOp::Neg, a); }

Tensor pow(const Tensor& a, double exponent) {
  require_input(a, "pow", "a");
  return apply_op1(PowDef(exponent), {a});
}

Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, x); }
Tensor gelu(const Tensor& x, const std::string& approximate) {
  check_arg(approximate == "none" || approximate == "tanh",
            "gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
  return unary_op(approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::GeluExact, x);
}
Tensor silu(const Tensor& x) { return unary_op(UnaryOp::Silu, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryOp::Rsqrt, x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, x); }

Tensor clone(const Tensor& x) {
  require_input(x, "clone", "x");
  return apply_op1(CopyDef(std::nullopt), {x});
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  require_input(x, "to", "x");
  return apply_op1(CopyDef(dtype), {x});
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  require_input(x, "dropout", "x");
  check_arg(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  Generator& g = gen ? *gen : default_generator();
  const std::uint64_t base = g.offset();
  // Every rank advances by the global element count (rounded to whole Philox blocks).
  g.advance((static_cast<std::uint64_t>(x.numel()) + 3) / 4 * 4);
  return apply_op1(DropoutDef(p, g.seed(), base), {x});
}

Generator& default_generator() { return RankContext::current().get(kGeneratorSlot).generator; }
void manual_seed(std::uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace tensorpar
