// reshape/view, transpose, permute and cat.
//
// Cat on DTensors concatenates the global tensors. A mesh dim keeps its placement when every
// input has the same one there and it does not shard the cat dim (Shard(1) inputs cat along 0
// stay Shard(1): each rank cats its own column blocks); otherwise every input is made Replicate
// on that mesh dim first, as torch's rule does ([S(0)] ++ [S(0)] along dim 0 all_gathers both,
// and [R] ++ [S(0)] gathers the sharded one). Partial inputs of one reduce op stay Partial.
//
// Reshape on a DTensor: the input and output shapes are grouped into runs of dims with equal
// products ((b, s, 64) -> (b, s, 4, 16) groups as [b]->[b], [s]->[s], [64]->[4, 16]). A sharded
// input dim survives when its group is one-to-one, or when it is the outermost dim of its group
// and both it and the outermost output dim of the group divide evenly by the number of shards
// (then every rank's block stays one contiguous block of the output: attention's
// (b, s, dim) S(2) -> (b, s, heads, head_dim) S(2) with heads divisible by the mesh size).
// Otherwise that mesh dim is replicated first, never a silently wrong layout
// (pytorch/pytorch#179502).
#include <algorithm>
#include <numeric>

#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/kernels/layout.h"
#include "core/ops/op.h"
#include "core/ops/sharding.h"

namespace tensorpar {

namespace {

Shape resolve_shape(const Shape& shape, std::int64_t count, const Shape& from) {
  Shape out = shape;
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      check_arg(infer < 0, "reshape: only one dimension can be inferred, got ", shape_str(shape));
      infer = std::int64_t(i);
    } else {
      check_arg(out[i] >= 0, "reshape: invalid extent ", out[i], " in shape ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    check_arg(known != 0 && count % known == 0, "reshape: shape ", shape_str(shape),
              " is invalid for input of size ", count, " (shape ", shape_str(from), ")");
    out[std::size_t(infer)] = count / known;
  }
  check_arg(numel(out) == count, "reshape: shape ", shape_str(shape), " is invalid for input of size ",
            count, " (shape ", shape_str(from), ")");
  return out;
}

struct DimGroup {
  std::vector<std::int64_t> in, out;
};

// Runs of dims with equal products; extent-1 dims join the current group.
std::vector<DimGroup> group_dims(const Shape& a, const Shape& b) {
  std::vector<DimGroup> groups;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    DimGroup g;
    std::int64_t pa = 1, pb = 1;
    if (i < a.size()) pa *= a[i], g.in.push_back(std::int64_t(i++));
    if (j < b.size()) pb *= b[j], g.out.push_back(std::int64_t(j++));
    while (pa != pb) {
      if (pa < pb && i < a.size()) {
        pa *= a[i];
        g.in.push_back(std::int64_t(i++));
      } else if (j < b.size()) {
        pb *= b[j];
        g.out.push_back(std::int64_t(j++));
      } else {
        break;
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

class ReshapeDef final : public OpDef {
 public:
  explicit ReshapeDef(Shape shape) : shape_(std::move(shape)) {}
  const char* name() const override { return "reshape"; }
  void rule_key(std::string& key) const override { key += shape_str(shape_); }

  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    const Tensor x = in[0].detach();
    if (ctx.recording) ctx.shape = x.shape();
    if (ctx.shard) {
      const DTensorSpec& out = *ctx.shard->outputs[0];
      return {x.reshape(local_shard_of(out.shape, out.mesh.shape(), out.placements,
                                       ctx.shard->coordinate).shape)};
    }
    return {x.reshape(shape_)};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    return {grads[0].reshape(ctx.shape)};
  }

  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& x = *in[0];
    const Shape out_shape = resolve_shape(shape_, numel(x.shape), x.shape);
    const std::vector<DimGroup> groups = group_dims(x.shape, out_shape);
    ShardingPlan plan;
    plan.inputs = {x.placements};
    Placements out = x.placements;
    const Shape& mesh = x.mesh.shape();
    for (std::size_t m = 0; m < out.size(); ++m) {
      const Placement& p = x.placements[m];
      if (!p.is_shard()) continue;
      std::int64_t shards = 1;
      for (std::size_t k = 0; k < out.size(); ++k) {
        if (x.placements[k].is_shard(p.dim())) shards *= mesh[k];
      }
      std::int64_t target = -1;
      for (const DimGroup& g : groups) {
        auto first_real = [](const std::vector<std::int64_t>& dims, const Shape& s) {
          for (auto d : dims) {
            if (s[d] != 1) return d;
          }
          return dims.empty() ? std::int64_t(-1) : dims.front();
        };
        if (std::find(g.in.begin(), g.in.end(), p.dim()) == g.in.end()) continue;
        const std::int64_t in0 = first_real(g.in, x.shape);
        const std::int64_t out0 = first_real(g.out, out_shape);
        if (in0 != p.dim() || out0 < 0) break;
        const bool one_to_one = x.shape[in0] == out_shape[out0];
        if (one_to_one || (x.shape[in0] % shards == 0 && out_shape[out0] % shards == 0)) {
          target = out0;
        }
        break;
      }
      if (target >= 0) {
        out[m] = Shard(target);
      } else {
        out[m] = Replicate();
        plan.inputs[0][m] = Replicate();
      }
    }
    plan.outputs = {out};
    plan.output_shapes = {out_shape};
    return plan;
  }

 private:
  Shape shape_;
};

class PermuteDef final : public OpDef {
 public:
  explicit PermuteDef(std::vector<std::int64_t> dims) : dims_(std::move(dims)) {}
  const char* name() const override { return "permute"; }
  void rule_key(std::string& key) const override {
    for (auto d : dims_) key += std::to_string(d) + ',';
  }
  std::vector<Tensor> forward(OpContext&, const std::vector<Tensor>& in) const override {
    return {kernels::permute(in[0], dims_)};
  }
  std::vector<Tensor> backward(OpContext&, const std::vector<Tensor>& grads,
                               const std::vector<bool>&) const override {
    std::vector<std::int64_t> inverse(dims_.size());
    for (std::size_t j = 0; j < dims_.size(); ++j) inverse[dims_[j]] = std::int64_t(j);
    return {kernels::permute(grads[0], inverse)};
  }
  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    const DTensorSpec& x = *in[0];
    ShardingPlan plan;
    plan.inputs = {x.placements};
    Placements out = x.placements;
    for (Placement& p : out) {
      if (!p.is_shard()) continue;
      const auto it = std::find(dims_.begin(), dims_.end(), p.dim());
      p = Shard(std::int64_t(it - dims_.begin()));
    }
    Shape shape(dims_.size());
    for (std::size_t j = 0; j < dims_.size(); ++j) shape[j] = x.shape[dims_[j]];
    plan.outputs = {out};
    plan.output_shapes = {shape};
    return plan;
  }

 private:
  std::vector<std::int64_t> dims_;
};

class CatDef final : public OpDef {
 public:
  explicit CatDef(std::int64_t dim) : dim_(dim) {}
  const char* name() const override { return "cat"; }
  void rule_key(std::string& key) const override { key += std::to_string(dim_); }

  std::vector<Tensor> forward(OpContext& ctx, const std::vector<Tensor>& in) const override {
    if (ctx.recording) {
      for (const Tensor& t : in) ctx.ints.push_back(t.shape()[std::size_t(dim_)]);
    }
    return {kernels::cat(in, dim_)};
  }
  std::vector<Tensor> backward(OpContext& ctx, const std::vector<Tensor>& grads,
                               const std::vector<bool>& need) const override {
    std::vector<Tensor> out(ctx.ints.size());
    std::int64_t start = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (need[i]) out[i] = grads[0].narrow(dim_, start, ctx.ints[i]).clone();
      start += ctx.ints[i];
    }
    return out;
  }

  ShardingPlan sharding(const std::vector<const DTensorSpec*>& in) const override {
    for (std::size_t i = 0; i < in.size(); ++i) {
      check_arg(in[i] != nullptr, "cat: tensors[", i,
                "] is a plain tensor next to DTensors; distribute it first");
    }
    const DTensorSpec& first = *in[0];
    Placements common = first.placements;
    for (std::size_t m = 0; m < common.size(); ++m) {
      bool keep = !common[m].is_shard(dim_);
      for (const DTensorSpec* spec : in) keep = keep && spec->placements[m] == common[m];
      if (!keep) common[m] = Replicate();
    }
    Shape shape = first.shape;
    shape[std::size_t(dim_)] = 0;
    for (const DTensorSpec* spec : in) shape[std::size_t(dim_)] += spec->shape[std::size_t(dim_)];
    ShardingPlan plan;
    plan.inputs.assign(in.size(), common);
    plan.outputs = {common};
    plan.output_shapes = {shape};
    return plan;
  }

 private:
  std::int64_t dim_;
};

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  std::int64_t d = 0;
  kernels::cat_shape(tensors, dim, &d);  // on DTensors: the global shapes
  return apply_op1(CatDef(d), tensors);
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_arg(x.defined(), "reshape: the tensor is undefined");
  // On DTensors the rule resolves the shape against the global one (errors then name the
  // placements too).
  if (x.is_distributed()) return apply_op1(ReshapeDef(shape), {x});
  const Shape resolved = resolve_shape(shape, x.numel(), x.shape());
  return apply_op1(ReshapeDef(resolved), {x});
}

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  check_arg(x.defined(), "permute: the tensor is undefined");
  const std::int64_t n = x.dim();
  check_arg(std::int64_t(dims.size()) == n, "permute: dims ", shape_str(dims), " is not a permutation of ",
            n, " dims");
  std::vector<std::int64_t> norm;
  std::vector<bool> seen(std::size_t(n), false);
  for (std::int64_t d : dims) {
    const std::int64_t k = normalize_dim(d, n, "permute");
    check_arg(!seen[std::size_t(k)], "permute: dims ", shape_str(dims), " is not a permutation of ", n,
              " dims");
    seen[std::size_t(k)] = true;
    norm.push_back(k);
  }
  return apply_op1(PermuteDef(std::move(norm)), {x});
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  check_arg(x.defined(), "transpose: the tensor is undefined");
  const std::int64_t n = x.dim();
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[std::size_t(normalize_dim(dim0, n, "transpose"))],
            order[std::size_t(normalize_dim(dim1, n, "transpose"))]);
  return apply_op1(PermuteDef(std::move(order)), {x});
}

}  // namespace tensorpar
