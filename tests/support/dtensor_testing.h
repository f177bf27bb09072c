#pragma once
// Helpers shared by the DTensor-level suites: exception checks with messages, integer-valued
// global tensors, and the expected local shard of a global tensor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/dtensor/dtensor_spec.h"
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

}  // namespace tensorpar::testing
