#pragma once
// Element-wise reductions in the shape Gloo's allreduce takes: out[i] = op(a[i], b[i]) for i < n,
// where out may equal a or b. Avg reduces as Sum; divide_in_place finishes it:
//   float32 {1, 2} and {3, 6}: Sum -> {4, 8}; Avg -> {4, 8} then divide by 2 -> {2, 4}
// int64 averages truncate toward zero (7 / 2 = 3), as the sim's do. bfloat16 goes through float32
// per element and rounds back to nearest even after every step.
#include <cstddef>
#include <functional>

#include "core/tensor/dtype.h"
#include "core/tensor/reduce_op.h"

namespace tensorpar::gloo {

using ReduceFunction = std::function<void(void* out, const void* a, const void* b, std::size_t n)>;

ReduceFunction reduce_function(DType dtype, ReduceOp op);

// data[i] /= divisor for i < n.
void divide_in_place(DType dtype, void* data, std::size_t n, int divisor);

}  // namespace tensorpar::gloo
