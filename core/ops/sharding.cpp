#include "core/ops/sharding.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/kernels/elementwise.h"

namespace tensorpar {

Placements replicate_all(std::size_t mesh_ndim) { return Placements(mesh_ndim, Replicate()); }

std::size_t mesh_ndim_of(const std::vector<const DTensorSpec*>& inputs) {
  for (const DTensorSpec* s : inputs) {
    if (s) return s->placements.size();
  }
  throw std::logic_error("sharding rule without a DTensor input");
}

ShardingPlan pointwise_rule(const std::vector<const DTensorSpec*>& inputs, Linearity linearity,
                            const char* what) {
  const std::size_t mesh_ndim = mesh_ndim_of(inputs);
  Shape out_shape;
  bool first = true;
  for (const DTensorSpec* s : inputs) {
    if (!s) continue;
    out_shape = first ? s->shape : kernels::broadcast_shapes(out_shape, s->shape, what);
    first = false;
  }
  const std::int64_t out_ndim = static_cast<std::int64_t>(out_shape.size());
  // Input dim d of input i as an output dim, or -1 when it is broadcast (extent 1 stretched).
  auto out_dim_of = [&](const DTensorSpec& s, std::int64_t d) -> std::int64_t {
    const std::int64_t od = d + out_ndim - static_cast<std::int64_t>(s.shape.size());
    return s.shape[std::size_t(d)] == out_shape[std::size_t(od)] ? od : -1;
  };
  auto in_dim_of = [&](const DTensorSpec& s, std::int64_t od) -> std::int64_t {
    const std::int64_t d = od - (out_ndim - static_cast<std::int64_t>(s.shape.size()));
    if (d < 0 || s.shape[std::size_t(d)] != out_shape[std::size_t(od)]) return -1;
    return d;
  };

  ShardingPlan plan;
  plan.inputs.resize(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i]) plan.inputs[i] = inputs[i]->placements;
  }
  Placements out(mesh_ndim, Replicate());
  for (std::size_t m = 0; m < mesh_ndim; ++m) {
    std::int64_t shard_dim = -1;
    bool any_partial = false, all_partial = true, partial_sum = true;
    std::size_t partial_count = 0, partial_index = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const DTensorSpec* s = inputs[i];
      if (!s) continue;
      const Placement& p = s->placements[m];
      if (p.is_shard() && shard_dim < 0) shard_dim = out_dim_of(*s, p.dim());
      if (p.is_partial()) {
        any_partial = true;
        ++partial_count;
        partial_index = i;
        partial_sum = partial_sum && p.reduce_op() == ReduceOp::Sum;
      } else {
        all_partial = false;
      }
    }
    if (shard_dim >= 0) {
      out[m] = Shard(shard_dim);
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i]) continue;
        const std::int64_t d = in_dim_of(*inputs[i], shard_dim);
        plan.inputs[i][m] = d >= 0 ? Shard(d) : Replicate();
      }
      continue;
    }
    bool keep_partial = false;
    if (any_partial && partial_sum) {
      switch (linearity) {
        case Linearity::None:
          break;
        case Linearity::Unary:
        case Linearity::Additive:
          keep_partial = true;
          break;
        case Linearity::Product:
          keep_partial = partial_count == 1;
          break;
        case Linearity::Numerator:
          keep_partial = partial_count == 1 && partial_index == 0;
          break;
      }
    }
    (void)all_partial;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i]) continue;
      const Placement& p = inputs[i]->placements[m];
      if (keep_partial) {
        // Additive: Replicate addends are partitioned; Product/Numerator: the others stay R.
        plan.inputs[i][m] = (linearity == Linearity::Additive || p.is_partial()) ? Partial()
                                                                                 : Replicate();
      } else {
        plan.inputs[i][m] = Replicate();
      }
    }
    out[m] = keep_partial ? Placement(Partial()) : Placement(Replicate());
  }
  plan.outputs = {out};
  plan.output_shapes = {out_shape};
  return plan;
}

Placements replicate_dims(const Placements& placements, const std::vector<std::int64_t>& dims,
                          bool reduce_partial) {
  Placements out = placements;
  for (Placement& p : out) {
    if (p.is_shard() && std::find(dims.begin(), dims.end(), p.dim()) != dims.end()) {
      p = Replicate();
    } else if (reduce_partial && p.is_partial()) {
      p = Replicate();
    }
  }
  return out;
}

ShardingPlan same_as_input_rule(const DTensorSpec& input, Placements target,
                                std::size_t num_inputs) {
  ShardingPlan plan;
  plan.inputs.resize(num_inputs);
  plan.inputs[0] = target;
  plan.outputs = {std::move(target)};
  plan.output_shapes = {input.shape};
  return plan;
}

}  // namespace tensorpar
