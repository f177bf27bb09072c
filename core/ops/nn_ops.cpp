// softmax/log_softmax, layer_norm, rms_norm, embedding, the causal mask, scaled-dot-product
// attention (composed), cross_entropy and nll_loss.
//
// Rules: softmax and the norms never run sharded on the dim they normalise (that mesh dim is
// replicated first) and reduce Partial inputs; other Shards pass through. Norm weights are
// replicated, so their gradients come back Partial when the input was sharded (sequence
// parallelism). embedding: weight Replicate follows the indices; weight Shard(1) gives an
// output sharded on its last dim; weight Shard(0) with replicated indices does the masked
// lookup and gives a Partial output. The losses replicate their inputs (loss_parallel adds the
// class-sharded path).
#include <cmath>
#include <limits>

#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/kernels/attention.h"
#include "core/kernels/embedding.h"
#include "core/kernels/loss.h"
#include "core/kernels/norm.h"
#include "core/kernels/softmax.h"
#include "core/ops/loss_parallel_hooks.h"
#include "core/ops/op.h"
#include "core/ops/sharding.h"

namespace tensorpar {

namespace {

class SoftmaxDef final : public OpDef {
 public:
  SoftmaxDef(std::int64_t dim, bool log) : dim_(dim), log_(log) {}
  const char* name() const override { return log_ ? "log_softmax" : "softmax"; }
  void rule_key(std::string& key) const override { key += std::to_string(dim_); }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    Tensor y = log_ ? kernels::log_softmax(in[0], dim_) : kernels::softmax(in[0], dim_);
    if (ctx.recording) ctx.saved = {y};
    return {y};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    return {log_ ? kernels::log_softmax_backward(grads[0], ctx.saved[0], dim_)
                 : kernels::softmax_backward(grads[0], ctx.saved[0], dim_)};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    return same_as_input_rule(*in[0], replicate_dims(in[0]->placements, {dim_}, true), 1);
  }

 private:
  std::int64_t dim_;
  bool log_;
};

// layer_norm (rms = false) or rms_norm over the last dim; inputs x, weight, bias.
class NormDef final : public OpDef {
 public:
  NormDef(double eps, bool rms) : eps_(eps), rms_(rms) {}
  const char* name() const override { return rms_ ? "rms_norm" : "layer_norm"; }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    kernels::NormResult r = rms_ ? kernels::rms_norm(in[0], in[1], eps_)
                                 : kernels::layer_norm(in[0], in[1], in[2], eps_);
    if (ctx.recording) ctx.saved = {in[0], in[1], r.mean, r.rstd};
    return {r.y};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>& need) const override {
    const bool need_w = need.size() > 1 && need[1];
    const bool need_b = need.size() > 2 && need[2];
    kernels::NormGrads g =
        rms_ ? kernels::rms_norm_backward(grads[0], ctx.saved[0], ctx.saved[1], ctx.saved[3], need_w)
             : kernels::layer_norm_backward(grads[0], ctx.saved[0], ctx.saved[1], ctx.saved[2],
                                            ctx.saved[3], need_w, need_b);
    return {g.x, g.weight, g.bias};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& x = *in[0];
    const std::int64_t last = std::int64_t(x.shape.size()) - 1;
    ShardingPlan plan = same_as_input_rule(x, replicate_dims(x.placements, {last}, true), in.size());
    for (std::size_t i = 1; i < in.size(); ++i) {
      if (in[i]) plan.inputs[i] = replicate_all(x.placements.size());
    }
    return plan;
  }

 private:
  double eps_;
  bool rms_;
};

class EmbeddingDef final : public OpDef {
 public:
  const char* name() const override { return "embedding"; }
  bool is_index_input(std::size_t i) const override { return i == 1; }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor& w = in[0];
    const Tensor& idx = in[1];
    std::int64_t row_offset = 0, rows = w.size(0);
    if (ctx.shard) {
      row_offset = ctx.shard->input_offsets(0)[0];
      rows = ctx.shard->inputs[0]->shape[0];
    }
    if (ctx.recording) {
      ctx.saved = {idx};
      ctx.ints = {w.size(0), row_offset};
    }
    return {kernels::embedding(w, idx, row_offset, rows)};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    return {kernels::embedding_backward(grads[0], ctx.saved[0], ctx.ints[0], ctx.ints[1]), Tensor()};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& w = *in[0];
    const DTensorSpec* idx = in[1];
    const std::size_t mesh_ndim = w.placements.size();
    check_arg(idx != nullptr, "embedding: indices are undefined");
    Shape out_shape = idx->shape;
    out_shape.push_back(w.shape[1]);
    ShardingPlan plan;
    plan.inputs = {w.placements, idx->placements};
    Placements out(mesh_ndim, Replicate());
    for (std::size_t m = 0; m < mesh_ndim; ++m) {
      const Placement& pw = w.placements[m];
      const Placement pi = idx->placements[m];
      Placement& tw = plan.inputs[0][m];
      if (pw.is_shard(1)) {
        out[m] = Shard(-1);
        plan.inputs[1][m] = Replicate();
      } else if (pw.is_shard(0)) {
        out[m] = Partial();
        plan.inputs[1][m] = Replicate();
      } else {
        tw = Replicate();
        if (pi.is_shard()) {
          out[m] = pi;
        } else {
          plan.inputs[1][m] = Replicate();
        }
      }
      if (out[m].is_shard(-1)) out[m] = Shard(std::int64_t(out_shape.size()) - 1);
    }
    plan.outputs = {out};
    plan.output_shapes = {out_shape};
    return plan;
  }
};

// Sets entries above the diagonal of the last two dims to -inf; the backward zeroes them.
class CausalMaskDef final : public OpDef {
 public:
  const char* name() const override { return "causal_mask"; }
  std::vector<Tensor> forward(OpContext&, const std::vector<Tensor>& in) const override {
    Tensor y = in[0].clone();
    kernels::causal_mask_(y);
    return {y};
  }
  std::vector<Tensor> backward(OpContext&, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    Tensor g = grads[0].clone();
    kernels::causal_mask_backward_(g);
    return {g};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const std::int64_t n = std::int64_t(in[0]->shape.size());
    return same_as_input_rule(*in[0], replicate_dims(in[0]->placements, {n - 2, n - 1}, true), 1);
  }
};

// cross_entropy (from logits) or nll_loss (from log-probabilities).
class LossDef final : public OpDef {
 public:
  LossDef(bool from_logits, std::int64_t ignore_index, Reduction reduction)
      : from_logits_(from_logits), ignore_index_(ignore_index), reduction_(reduction) {}
  const char* name() const override { return from_logits_ ? "cross_entropy" : "nll_loss"; }
  bool is_index_input(std::size_t i) const override { return i >= 1; }
  void rule_key(std::string& key) const override {
    key += std::to_string(int(reduction_));
  }
  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor& x = in[0];
    const Tensor& target = in[1];
    const Tensor& weight = in[2];
    kernels::CrossEntropyResult r =
        from_logits_ ? kernels::cross_entropy(x, target, weight, ignore_index_, reduction_)
                     : kernels::nll_loss(x, target, weight, ignore_index_, reduction_);
    if (ctx.recording) {
      ctx.saved = {r.log_probs, target, weight, r.total_weight};
      ctx.shape = x.shape();
      ctx.ints = {static_cast<std::int64_t>(x.dtype())};
    }
    return {r.loss};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    if (from_logits_) {
      return {kernels::cross_entropy_backward(grads[0], ctx.saved[0], ctx.saved[1], ctx.saved[2],
                                              ignore_index_, reduction_, ctx.saved[3]),
              Tensor(), Tensor()};
    }
    return {kernels::nll_loss_backward(grads[0], ctx.saved[1], ctx.saved[2], ignore_index_,
                                       reduction_, ctx.saved[3], ctx.shape,
                                       static_cast<DType>(ctx.ints[0])),
            Tensor(), Tensor()};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& x = *in[0];
    const Placements r = replicate_all(x.placements.size());
    ShardingPlan plan;
    plan.inputs = {r, in[1] ? r : Placements{}, in[2] ? r : Placements{}};
    plan.outputs = {r};
    Shape out;
    if (reduction_ == Reduction::None) {
      out = x.shape;
      if (out.size() >= 2) out.erase(out.begin() + 1);
      else out.clear();
    }
    plan.output_shapes = {out};
    return plan;
  }

 private:
  bool from_logits_;
  std::int64_t ignore_index_;
  Reduction reduction_;
};

void require(const Tensor& t, const char* what, const char* arg) {
  check_arg(t.defined(), what, ": ", arg, " is undefined");
}

Tensor loss(bool from_logits, const Tensor& x, const Tensor& target,
            const CrossEntropyOptions& options) {
  const char* what = from_logits ? "cross_entropy" : "nll_loss";
  require(x, what, from_logits ? "input" : "log_probs");
  require(target, what, "target");
  check_arg(target.dtype() == DType::Int64, what, ": target must be int64 class indices, got ",
            dtype_name(target.dtype()));
  return apply_op1(LossDef(from_logits, options.ignore_index, options.reduction),
                   {x, target, options.weight});
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) {
  require(x, "softmax", "x");
  return apply_op1(SoftmaxDef(normalize_dim(dim, x.dim(), "softmax"), false), {x});
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  require(x, "log_softmax", "x");
  if (x.is_distributed()) {
    if (const LossParallelHandlers* h = active_loss_parallel_handlers()) {
      return h->log_softmax(x, normalize_dim(dim, x.dim(), "log_softmax"));
    }
  }
  return apply_op1(SoftmaxDef(normalize_dim(dim, x.dim(), "log_softmax"), true), {x});
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  require(x, "layer_norm", "x");
  return apply_op1(NormDef(eps, false), {x, weight, bias});
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  require(x, "rms_norm", "x");
  return apply_op1(NormDef(eps, true), {x, weight});
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  require(weight, "embedding", "weight");
  require(indices, "embedding", "indices");
  check_arg(weight.dim() == 2, "embedding: weight must be 2-D (num_embeddings, dim), got shape ",
            shape_text(weight.shape()));
  check_arg(indices.dtype() == DType::Int64, "embedding: indices must be int64, got ",
            dtype_name(indices.dtype()));
  return apply_op1(EmbeddingDef(), {weight, indices});
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options) {
  require(q, "scaled_dot_product_attention", "q");
  require(k, "scaled_dot_product_attention", "k");
  require(v, "scaled_dot_product_attention", "v");
  check_arg(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(),
            "scaled_dot_product_attention: q, k and v must have the same rank >= 2, got ",
            shape_text(q.shape()), ", ", shape_text(k.shape()), ", ", shape_text(v.shape()));
  check_arg(q.size(-1) == k.size(-1), "scaled_dot_product_attention: head dims differ: q ",
            shape_text(q.shape()), ", k ", shape_text(k.shape()));
  const double scale = options.scale.value_or(1.0 / std::sqrt(double(q.size(-1))));
  Tensor scores = mul(matmul(q, transpose(k, -2, -1)), scale);
  if (options.is_causal) scores = apply_op1(CausalMaskDef(), {scores});
  Tensor p = softmax(scores, -1);
  if (options.dropout_p > 0) p = dropout(p, options.dropout_p, true, options.generator);
  return matmul(p, v);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options) {
  if (logits.defined() && logits.is_distributed() && target.defined()) {
    if (const LossParallelHandlers* h = active_loss_parallel_handlers()) {
      return h->cross_entropy(logits, target, options);
    }
  }
  return loss(true, logits, target, options);
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const CrossEntropyOptions& options) {
  if (log_probs.defined() && log_probs.is_distributed() && target.defined()) {
    if (const LossParallelHandlers* h = active_loss_parallel_handlers()) {
      return h->nll_loss(log_probs, target, options);
    }
  }
  return loss(false, log_probs, target, options);
}

}  // namespace tensorpar
