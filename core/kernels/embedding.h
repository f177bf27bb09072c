#pragma once
// Embedding lookup over a row-sharded table (the vocabulary-parallel nn.Embedding). This rank
// holds rows [row_offset, row_offset + weight.size(0)) of a table of num_embeddings rows; an
// index outside that range reads zeros, so summing every rank's output (a Partial sum) gives
// the full lookup. Example: a 4-row table split in two halves, indices [0, 3]:
//
//   rank 0 (rows 0-1, row_offset 0): out = [w[0], 0]
//   rank 1 (rows 2-3, row_offset 2): out = [0, w[3]]      sum = [w[0], w[3]]
//
// indices are Int64 of any shape; weight is (rows, D) of Float32 or Float64.
#include <cstdint>

#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// out[..., :] = weight[i - row_offset] where row_offset <= i < row_offset + weight.size(0), zeros
// elsewhere; out has shape indices.shape + [D]. Every index must be in [0, num_embeddings)
// (num_embeddings = -1 means weight.size(0)), else "embedding: index 12 is out of range for 10
// embeddings".
Tensor embedding(const Tensor& weight, const Tensor& indices, std::int64_t row_offset = 0,
                 std::int64_t num_embeddings = -1);
// Scatter-add of grad rows (shape indices.shape + [D]) into a (local_rows, D) gradient for rows
// [row_offset, row_offset + local_rows); other indices are skipped. A repeated index sums.
Tensor embedding_backward(const Tensor& grad, const Tensor& indices, std::int64_t local_rows,
                          std::int64_t row_offset = 0);

}  // namespace tensorpar::kernels
