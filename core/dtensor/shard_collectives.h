#pragma once
// Collectives over one mesh dim's group on torch.chunk-sharded data.
//
// Collectives need equal sizes, so every chunk travels padded to ceil(size / n) along the
// sharded dim and is unpadded on arrival. Example: 5 rows over n = 4 ranks have local sizes
// [2, 2, 1, 0]; all_gather_shards sends 2 rows from each rank (rank 2 pads 1, rank 3 pads 2)
// and keeps rows [0:2] of blocks 0 and 1 and row [0:1] of block 2.
#include <cstdint>

#include "core/comm/communicator.h"
#include "core/tensor/shape.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

// t split into n chunks along dim, each padded with zeros to ceil(size / n), laid out as n
// consecutive blocks: the input layout of scatter and reduce_scatter.
Tensor pack_chunks(const Tensor& t, std::int64_t dim, std::int64_t n);

// Chunk `index` of n along dim, as an independent copy (R -> S).
Tensor local_chunk(const Tensor& t, std::int64_t dim, std::int64_t n, std::int64_t index);

// S(dim) -> R: gathers the group's chunks of a dim of logical size `size`.
Tensor all_gather_shards(const Tensor& local, Communicator& group, std::int64_t dim,
                         std::int64_t size);

// P -> S(dim): reduces over the group and keeps this rank's chunk of `dim`.
Tensor reduce_scatter_shards(const Tensor& local, Communicator& group, std::int64_t dim,
                             ReduceOp op);

// S(from_dim) -> S(to_dim): from_dim of logical size `from_size` is gathered while to_dim is
// split, in one all_to_all.
Tensor all_to_all_shards(const Tensor& local, Communicator& group, std::int64_t from_dim,
                         std::int64_t from_size, std::int64_t to_dim);

// Sends chunk k of `full` along dim from group rank `root` to group rank k. `full` is read on
// root only; every rank must pass a tensor of the same shape.
Tensor scatter_shards(const Tensor& full, Communicator& group, std::int64_t dim, int root);

}  // namespace tensorpar
