// matmul and linear with their contraction sharding rules.
//
// Per mesh dim (worked example, ColwiseParallel: x [8, 16] R, w [32, 16] S(0) -> y [8, 32] S(1);
// RowwiseParallel: x S(1), w S(1) -> y Partial, and a Replicate bias is partitioned so the sum
// over ranks adds it exactly once):
//   x batch dim S(d), w R        -> y S(d)
//   w S(0) (output features)     -> y S(-1), x replicated, bias S(0)
//   x S(-1) and/or w S(1)        -> both sharded on the contraction dim, y Partial, bias Partial
//   x Partial, w Replicate       -> y Partial, bias Partial
//   otherwise                    -> everything Replicate
#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/kernels/matmul.h"
#include "core/kernels/reduce.h"
#include "core/ops/op.h"
#include "core/ops/sharding.h"

namespace tensorpar {

namespace {

class MatmulDef final : public OpDef {
 public:
  const char* name() const override { return "matmul"; }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    if (ctx.recording) ctx.saved = {in[0], in[1]};
    return {kernels::matmul(in[0], in[1])};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>& need) const override {
    const Tensor& g = grads[0];
    const Tensor& a = ctx.saved[0];
    const Tensor& b = ctx.saved[1];
    Tensor ga, gb;
    if (need[0]) {
      ga = kernels::matmul(g, b, false, true);  // g @ bᵀ
      if (a.dim() == 2 && ga.dim() > 2) ga = kernels::sum(ga.reshape({-1, a.size(0), a.size(1)}), {0}, false);
    }
    if (need[1]) {
      if (b.dim() == 2 && a.dim() > 2) {
        // Shared b: sum over the batch of aᵢᵀ gᵢ, one GEMM over the flattened rows.
        gb = kernels::matmul(a.reshape({-1, a.size(-1)}), g.reshape({-1, g.size(-1)}), true, false);
      } else {
        gb = kernels::matmul(a, g, true, false);  // aᵀ @ g
        if (b.dim() == 2 && gb.dim() > 2) gb = kernels::sum(gb.reshape({-1, b.size(0), b.size(1)}), {0}, false);
      }
    }
    return {ga, gb};
  }

  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& a = *in[0];
    const DTensorSpec& b = *in[1];
    check_arg(a.shape.size() >= 2 && b.shape.size() >= 2, "matmul: operands must have at least 2 "
              "dims, got ", shape_str(a.shape), " and ", shape_str(b.shape));
    const std::int64_t an = std::int64_t(a.shape.size()), bn = std::int64_t(b.shape.size());
    const std::int64_t on = std::max(an, bn);
    Shape out(on);
    const Shape& batch_src = an >= bn ? a.shape : b.shape;
    for (std::int64_t d = 0; d < on - 2; ++d) out[d] = batch_src[d];
    out[on - 2] = a.shape[an - 2];
    out[on - 1] = b.shape[bn - 1];
    ShardingPlan plan;
    plan.inputs = {a.placements, b.placements};
    Placements op(a.placements.size(), Replicate());
    for (std::size_t m = 0; m < op.size(); ++m) {
      const Placement& pa = a.placements[m];
      const Placement& pb = b.placements[m];
      Placement& ta = plan.inputs[0][m];
      Placement& tb = plan.inputs[1][m];
      const bool a_row = pa.is_shard() && pa.dim() <= an - 2;  // batch or M
      const bool b_batch = pb.is_shard() && pb.dim() < bn - 2;
      if (a_row) {
        const std::int64_t od = pa.dim() + on - an;
        op[m] = Shard(od);
        const std::int64_t bd = od - (on - bn);
        tb = (od < on - 2 && bd >= 0 && b.shape[bd] == out[od]) ? Placement(Shard(bd)) : Replicate();
      } else if (pb.is_shard() && (pb.dim() == bn - 1 || b_batch)) {
        const std::int64_t od = pb.dim() + on - bn;
        op[m] = Shard(od);
        const std::int64_t ad = od - (on - an);
        ta = (od < on - 2 && ad >= 0 && a.shape[ad] == out[od]) ? Placement(Shard(ad)) : Replicate();
      } else if ((pa.is_shard() && pa.dim() == an - 1) || (pb.is_shard() && pb.dim() == bn - 2)) {
        ta = Shard(an - 1);
        tb = Shard(bn - 2);
        op[m] = Partial();
      } else if (pa.is_partial() != pb.is_partial() &&
                 (pa.is_partial() ? pa : pb).reduce_op() == ReduceOp::Sum) {
        op[m] = Partial();
        (pa.is_partial() ? tb : ta) = Replicate();
      } else {
        ta = Replicate();
        tb = Replicate();
      }
    }
    plan.outputs = {op};
    plan.output_shapes = {out};
    return plan;
  }
};

class LinearDef final : public OpDef {
 public:
  const char* name() const override { return "linear"; }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    if (ctx.recording) ctx.saved = {in[0], in[1]};
    return {kernels::linear(in[0], in[1], in[2])};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>& need) const override {
    kernels::LinearGrads g = kernels::linear_backward(grads[0], ctx.saved[0], ctx.saved[1], need[0],
                                                      need[1], need.size() > 2 && need[2]);
    return {g.x, g.w, g.bias};
  }

  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& x = *in[0];
    const DTensorSpec& w = *in[1];
    const DTensorSpec* bias = in.size() > 2 ? in[2] : nullptr;
    const std::int64_t xn = std::int64_t(x.shape.size());
    check_arg(xn >= 1 && w.shape.size() == 2, "linear: expected x (..., in) and w (out, in), got ",
              shape_str(x.shape), " and ", shape_str(w.shape));
    check_arg(x.shape[xn - 1] == w.shape[1], "linear: x has ", x.shape[xn - 1],
              " input features but w ", shape_str(w.shape), " expects ", w.shape[1]);
    Shape out = x.shape;
    out[xn - 1] = w.shape[0];
    ShardingPlan plan;
    plan.inputs = {x.placements, w.placements, bias ? bias->placements : Placements{}};
    Placements op(x.placements.size(), Replicate());
    for (std::size_t m = 0; m < op.size(); ++m) {
      const Placement& px = x.placements[m];
      const Placement& pw = w.placements[m];
      const Placement pb = bias ? bias->placements[m] : Placement(Replicate());
      Placement& tx = plan.inputs[0][m];
      Placement& tw = plan.inputs[1][m];
      Placement tb = Replicate();
      if (px.is_shard() && px.dim() < xn - 1) {
        op[m] = px;
        tw = Replicate();
      } else if (pw.is_shard(0)) {
        op[m] = Shard(xn - 1);
        tx = Replicate();
        tb = Shard(0);
      } else if (((px.is_shard() && px.dim() == xn - 1) || pw.is_shard(1)) && !pb.is_shard()) {
        tx = Shard(xn - 1);
        tw = Shard(1);
        op[m] = Partial();
        tb = Partial();
      } else if (px.is_partial() && px.reduce_op() == ReduceOp::Sum && !pw.is_partial() &&
                 !pb.is_shard()) {
        op[m] = Partial();
        tw = Replicate();
        tb = Partial();
      } else {
        tx = Replicate();
        tw = Replicate();
      }
      if (bias) plan.inputs[2][m] = tb;
    }
    plan.outputs = {op};
    plan.output_shapes = {out};
    return plan;
  }
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_arg(a.defined(), "matmul: a is undefined");
  check_arg(b.defined(), "matmul: b is undefined");
  check_arg(a.dtype() == b.dtype(), "matmul: dtype mismatch ", dtype_name(a.dtype()), " vs ",
            dtype_name(b.dtype()));
  return apply_op1(MatmulDef(), {a, b});
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  check_arg(x.defined(), "linear: x is undefined");
  check_arg(w.defined(), "linear: w is undefined");
  check_arg(x.dtype() == w.dtype(), "linear: dtype mismatch: x is ", dtype_name(x.dtype()),
            ", w is ", dtype_name(w.dtype()));
  if (bias.defined()) {
    check_arg(bias.dtype() == x.dtype(), "linear: dtype mismatch: x is ", dtype_name(x.dtype()),
              ", bias is ", dtype_name(bias.dtype()));
  }
  return apply_op1(LinearDef(), {x, w, bias});
}

}  // namespace tensorpar
