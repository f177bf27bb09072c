#pragma once
// Helpers shared by the DTensor-level suites: exception checks with messages, integer-valued
// global tensors, and the expected local shard of a global tensor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

#include "core/dtensor/dtensor_spec.h"
#include "core/dtensor/redistribute.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::testing {

// 0, 1, 2, ... laid out in `shape`: every element tells its global index.
inline Tensor iota(const Shape& shape, DType dtype = DType::Float32) {
  return arange(0.0, static_cast<double>(numel(shape)), 1.0, dtype).reshape(shape);
}

// The sub-box of `global` described by a LocalShard, as a fresh tensor.
inline Tensor slice_of(const Tensor& global, const LocalShard& shard) {
  Tensor out = global;
  for (std::size_t d = 0; d < shard.shape.size(); ++d) {
    out = out.narrow(static_cast<std::int64_t>(d), shard.offset[d], shard.shape[d]);
  }
  return out.clone();
}

// The global value of a DTensor built by the redistribute matrices: its Partial ranks hold
// G + (the sum of their Partial coordinates). Example: a 2-rank P(sum) of G holds G and G + 1,
// so the value is (G + 1/2) * 2; a P(max) holds at most G + 1.
inline Tensor reduced_value(const Tensor& g, const Shape& mesh, const Placements& src) {
  double n_sum = 1, shift = 0;
  for (std::size_t m = 0; m < src.size(); ++m) {
    if (!src[m].is_partial()) continue;
    const double n = static_cast<double>(mesh[m]);
    if (src[m].reduce_op() == ReduceOp::Sum) {
      n_sum *= n;
      shift += (n - 1) / 2;
    } else {
      shift += n - 1;
    }
  }
  return (g + shift) * n_sum;
}

// The collectives a redistribute plan promises, by name; steps on a mesh dim of size 1 are free.
inline std::map<std::string, std::int64_t> plan_counts(const Shape& mesh,
                                                       const RedistributePlan& plan) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& step : plan.steps) {
    if (mesh[step.mesh_dim] == 1) continue;
    if (auto kind = step_collective(step.from, step.to)) {
      ++counts[std::string(collective_name(*kind))];
    }
  }
  return counts;
}

}  // namespace tensorpar::testing
