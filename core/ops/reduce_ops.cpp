// Reductions. Rule per mesh dim: a Shard of a reduced dim gives a Partial(sum) result (each rank
// sums its part), other Shards follow their dim, Partial stays Partial (sum and mean are
// linear). mean divides by the GLOBAL number of reduced elements, so mean over uneven shards is
// exact (each rank adds sum_local / N and the Partial sum is sum / N). max over a sharded dim
// replicates that dim first (the backward must know which rank holds the maximum).
#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/ops/ops.h"
#include "core/base/error.h"
#include "core/kernels/elementwise.h"
#include "core/kernels/reduce.h"
#include "core/ops/op.h"
#include "core/ops/sharding.h"

namespace tensorpar {

namespace {

std::vector<std::int64_t> normalized_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim,
                                          const char* what) {
  std::vector<std::int64_t> out;
  if (dims.empty()) {
    for (std::int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (std::int64_t d : dims) {
    const std::int64_t n = normalize_dim(d, std::max<std::int64_t>(ndim, 1), what);
    check_arg(std::find(out.begin(), out.end(), n) == out.end(), what, ": dim ", n,
              " appears more than once in the reduced dims");
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<std::int64_t>& dims, bool keepdim) {
  Shape out;
  for (std::int64_t d = 0; d < std::int64_t(shape.size()); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// The output dim of input dim d (d not reduced).
std::int64_t out_dim(std::int64_t d, const std::vector<std::int64_t>& dims, bool keepdim) {
  if (keepdim) return d;
  std::int64_t before = 0;
  for (std::int64_t r : dims) before += r < d ? 1 : 0;
  return d - before;
}

class SumDef final : public OpDef {
 public:
  SumDef(std::vector<std::int64_t> dims, bool keepdim, bool mean)
      : dims_(std::move(dims)), keepdim_(keepdim), mean_(mean) {}
  const char* name() const override { return mean_ ? "mean" : "sum"; }
  void rule_key(std::string& key) const override {
    for (auto d : dims_) key += std::to_string(d) + ',';
    key += keepdim_ ? 'k' : '-';
  }

  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor& x = in[0];
    // The global count of reduced elements (equal to the local one on plain tensors).
    const Shape& global = ctx.shard ? ctx.shard->inputs[0]->shape : x.shape();
    double count = 1;
    for (auto d : dims_) count *= double(global[d]);
    if (ctx.recording) {
      ctx.shape = x.shape();
      ctx.scalars = {mean_ ? 1.0 / count : 1.0};
    }
    Tensor s;
    if (dims_.size() == std::size_t(x.dim()) && !keepdim_ && !mean_) {
      s = kernels::reduce(kernels::ReduceOp::Sum, x);
    } else if (dims_.size() == 1 && !mean_) {
      s = kernels::reduce(kernels::ReduceOp::Sum, x, dims_[0], keepdim_);
    } else {
      s = kernels::sum(x, dims_, keepdim_);
    }
    if (mean_) s = kernels::binary_scalar(kernels::BinaryOp::Div, s, count);
    return {s};
  }

  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    Tensor g = grads[0];
    g = g.reshape(reduced_shape(ctx.shape, dims_, true));
    Tensor out = kernels::broadcast_to(g, ctx.shape, name());
    if (ctx.scalars[0] != 1.0) out = kernels::binary_scalar(kernels::BinaryOp::Mul, out, ctx.scalars[0]);
    return {out};
  }

  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& x = *in[0];
    ShardingPlan plan;
    plan.inputs = {x.placements};
    Placements out = x.placements;
    for (std::size_t m = 0; m < out.size(); ++m) {
      const Placement& p = x.placements[m];
      if (p.is_partial() && p.reduce_op() != ReduceOp::Sum) {
        plan.inputs[0][m] = Replicate();
        out[m] = Replicate();
      } else if (p.is_shard()) {
        const bool reduced = std::find(dims_.begin(), dims_.end(), p.dim()) != dims_.end();
        out[m] = reduced ? Placement(Partial()) : Placement(Shard(out_dim(p.dim(), dims_, keepdim_)));
      }
    }
    plan.outputs = {out};
    plan.output_shapes = {reduced_shape(x.shape, dims_, keepdim_)};
    return plan;
  }

 private:
  std::vector<std::int64_t> dims_;
  bool keepdim_;
  bool mean_;
};

// max along one dim (all = over every element, as a 0-d result).
class MaxDef final : public OpDef {
 public:
  MaxDef(std::int64_t dim, bool keepdim, bool all) : dim_(dim), keepdim_(keepdim), all_(all) {}
  const char* name() const override { return "max"; }
  void rule_key(std::string& key) const override {
    key += std::to_string(dim_) + (keepdim_ ? "k" : "-") + (all_ ? "a" : "d");
  }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor& x = in[0];
    const Tensor flat = all_ ? x.reshape({-1}) : x;
    if (!ctx.recording) {
      return {all_ ? kernels::reduce(kernels::ReduceOp::Max, x) : kernels::reduce(kernels::ReduceOp::Max, x, dim_, keepdim_)};
    }
    kernels::MaxResult r = kernels::max_dim(flat, all_ ? 0 : dim_, all_ ? false : keepdim_);
    ctx.shape = x.shape();
    ctx.saved = {r.indices};
    return {r.values};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    if (all_) {
      Tensor g = kernels::max_dim_backward(grads[0], ctx.saved[0], {numel(ctx.shape)}, 0, false);
      return {g.reshape(ctx.shape)};
    }
    return {kernels::max_dim_backward(grads[0], ctx.saved[0], ctx.shape, dim_, keepdim_)};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& x = *in[0];
    std::vector<std::int64_t> dims;
    if (all_) {
      for (std::int64_t d = 0; d < std::int64_t(x.shape.size()); ++d) dims.push_back(d);
    } else {
      dims = {dim_};
    }
    Placements target = replicate_dims(x.placements, dims, true);
    ShardingPlan plan;
    plan.inputs = {target};
    Placements out = target;
    for (Placement& p : out) {
      if (p.is_shard()) p = Shard(out_dim(p.dim(), dims, keepdim_ && !all_));
    }
    plan.outputs = {out};
    plan.output_shapes = {reduced_shape(x.shape, dims, keepdim_ && !all_)};
    return plan;
  }

 private:
  std::int64_t dim_;
  bool keepdim_;
  bool all_;
};

void require(const Tensor& t, const char* what) {
  check_arg(t.defined(), what, ": input is undefined");
}

// min and prod are not differentiable and run on plain tensors only.
void require_plain_no_grad(const Tensor& t, const char* what) {
  require(t, what);
  check_arg(!t.is_distributed(), what, ": not supported on a DTensor; use full_tensor() first");
  check_arg(!(GradMode::is_enabled() && t.requires_grad()), what,
            ": not differentiable; call it on detach() or under NoGradGuard");
}

}  // namespace

Tensor sum(const Tensor& t) { return sum(t, std::vector<std::int64_t>{}, false); }
Tensor mean(const Tensor& t) { return mean(t, std::vector<std::int64_t>{}, false); }
Tensor sum(const Tensor& t, std::int64_t dim, bool keepdim) {
  return sum(t, std::vector<std::int64_t>{dim}, keepdim);
}
Tensor mean(const Tensor& t, std::int64_t dim, bool keepdim) {
  return mean(t, std::vector<std::int64_t>{dim}, keepdim);
}
Tensor sum(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  require(t, "sum");
  return apply_op1(SumDef(normalized_dims(dims, t.dim(), "sum"), keepdim, false), {t});
}
Tensor mean(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  require(t, "mean");
  check_arg(is_floating(t.dtype()), "mean: expected a floating point tensor, got ",
            dtype_name(t.dtype()));
  return apply_op1(SumDef(normalized_dims(dims, t.dim(), "mean"), keepdim, true), {t});
}

Tensor max(const Tensor& t) {
  require(t, "max");
  check_arg(t.numel() > 0, "max: cannot reduce an empty tensor of shape ", shape_text(t.shape()));
  return apply_op1(MaxDef(0, false, true), {t});
}
Tensor max(const Tensor& t, std::int64_t dim, bool keepdim) {
  require(t, "max");
  const std::int64_t d = normalize_dim(dim, std::max<std::int64_t>(t.dim(), 1), "max");
  return apply_op1(MaxDef(d, keepdim, false), {t});
}

Tensor min(const Tensor& t) {
  require_plain_no_grad(t, "min");
  return kernels::reduce(kernels::ReduceOp::Min, t);
}
Tensor prod(const Tensor& t) {
  require_plain_no_grad(t, "prod");
  return kernels::reduce(kernels::ReduceOp::Prod, t);
}
Tensor min(const Tensor& t, std::int64_t dim, bool keepdim) {
  require_plain_no_grad(t, "min");
  return kernels::reduce(kernels::ReduceOp::Min, t, dim, keepdim);
}
Tensor prod(const Tensor& t, std::int64_t dim, bool keepdim) {
  require_plain_no_grad(t, "prod");
  return kernels::reduce(kernels::ReduceOp::Prod, t, dim, keepdim);
}

}  // namespace tensorpar
