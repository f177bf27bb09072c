#pragma once
// Element-wise reduction of several equally long host buffers: the CPU device interface's reduce
// (device_interface.h), the arithmetic behind the sim's all_reduce and reduce_scatter.
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
#include "core/tensor/reduce_op.h"

namespace tensorpar {

void host_reduce_buffers(DType dtype, ReduceOp op, std::span<const void* const> srcs,
                         std::span<void* const> dsts, std::int64_t count);

}  // namespace tensorpar
