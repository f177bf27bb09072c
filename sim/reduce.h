#pragma once
// Element-wise reduction of several equally long buffers, the arithmetic of the sim's all_reduce
// and reduce_scatter.
//
//   srcs = {a, b, c}, op = Sum:  every dst[i] = (a[i] + b[i]) + c[i]
//
// Sources are combined in the order given (rank order), so every rank computes bit-identical
// results. Avg is the sum divided by the number of sources (int64 truncates toward zero:
// avg of {1, 2} is 1); bfloat16 accumulates in float32 and rounds once at the end. The range is
// processed in cache-sized tiles: each source element is read once and each result written
// straight to every destination, so destinations may alias sources (in-place all_reduce).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/tensor/dtype.h"
#include "core/comm/reduce_op.h"

namespace tensorpar::sim {

void reduce_buffers(DType dtype, ReduceOp op, std::span<const std::byte* const> srcs,
                    std::span<std::byte* const> dsts, std::int64_t count);

}  // namespace tensorpar::sim
