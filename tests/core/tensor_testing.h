#pragma once
// Helpers for the tensor-level suites: exception checks with messages, every dtype, index data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <typeinfo>
#include <vector>

#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::tensor_testing {

inline constexpr DType kAllDTypes[] = {DType::Float32, DType::Float64, DType::Int64,
                                       DType::BFloat16};

// [[0, 1, 2], [3, 4, 5]] style data: every element tells its row-major index.
inline Tensor iota(const Shape& shape, DType dtype = DType::Float32) {
  return arange(numel(shape), dtype).reshape(shape);
}

// The elements as doubles, for EXPECT_THAT(values(t), ElementsAre(...)).
inline std::vector<double> values(const Tensor& t) { return to_vector<double>(t); }

using testing::expect_error;

}  // namespace tensorpar::tensor_testing
