#include "core/dtensor/shard_collectives.h"


#include "core/base/error.h"
#include "core/dtensor/placement.h"

namespace tensorpar {

namespace {

// Product of the extents before `dim`: 1 means chunks along dim are contiguous blocks.
std::int64_t outer_size(const Shape& shape, std::int64_t dim) {
  std::int64_t n = 1;
  for (std::int64_t i = 0; i < dim; ++i) n *= shape[i];
  return n;
}

Shape with_extent(Shape shape, std::int64_t dim, std::int64_t extent) {
  shape[dim] = extent;
  return shape;
}

Shape zeros_like_index(const Shape& shape) { return Shape(shape.size(), 0); }

Shape at_dim(std::size_t ndim, std::int64_t dim, std::int64_t value) {
  Shape s(ndim, 0);
  s[dim] = value;
  return s;
}

// Block k (of block_shape) of a flat buffer holding n consecutive blocks: a view.
Tensor block(const Tensor& flat, const Shape& block_shape, std::int64_t k) {
  const std::int64_t b = numel(block_shape);
  return flat.narrow(0, k * b, b).reshape(block_shape);
}

}  // namespace

Tensor pack_chunks(const Tensor& t, std::int64_t dim, std::int64_t n) {
  const std::int64_t size = t.size(dim);
  const std::int64_t padded = padded_chunk_size(size, n);
  if (padded * n == size && outer_size(t.shape(), dim) == 1) return t;  // already the layout
  const Shape block_shape = with_extent(t.shape(), dim, padded);
  Tensor packed = zeros({n * numel(block_shape)}, t.dtype(), t.device());
  for (std::int64_t k = 0; k < n; ++k) {
    const ChunkExtent e = chunk_extent(size, n, k);
    if (e.size == 0) continue;
    Tensor dst = block(packed, block_shape, k);
    copy_box(dst, zeros_like_index(block_shape), t, at_dim(t.shape().size(), dim, e.offset),
             with_extent(t.shape(), dim, e.size));
  }
  return packed;
}

Tensor local_chunk(const Tensor& t, std::int64_t dim, std::int64_t n, std::int64_t index) {
  const ChunkExtent e = chunk_extent(t.size(dim), n, index);
  Tensor piece = t.narrow(dim, e.offset, e.size);
  return piece.shares_storage_with(t) ? piece.clone() : piece;
}

Tensor all_gather_shards(const Tensor& local, Communicator& group, std::int64_t dim,
                         std::int64_t size) {
  const std::int64_t n = group.size();
  const std::int64_t padded = padded_chunk_size(size, n);
  const Shape block_shape = with_extent(local.shape(), dim, padded);
  Tensor send = local;
  if (local.size(dim) != padded) {
    send = zeros(block_shape, local.dtype(), local.device());
    copy_box(send, zeros_like_index(block_shape), local, zeros_like_index(block_shape),
             local.shape());
  }
  Tensor gathered = Tensor::empty({n * numel(block_shape)}, local.dtype(), local.device());
  group.all_gather(gathered, send)->wait();

  if (outer_size(local.shape(), dim) == 1) {
    // Valid rows form a prefix of the gathered blocks (torch.chunk fills chunks in turn).
    return gathered.reshape(with_extent(local.shape(), dim, n * padded)).narrow(dim, 0, size);
  }
  Tensor out = Tensor::empty(with_extent(local.shape(), dim, size), local.dtype(), local.device());
  for (std::int64_t k = 0; k < n; ++k) {
    const ChunkExtent e = chunk_extent(size, n, k);
    if (e.size == 0) continue;
    copy_box(out, at_dim(block_shape.size(), dim, e.offset), block(gathered, block_shape, k),
             zeros_like_index(block_shape), with_extent(local.shape(), dim, e.size));
  }
  return out;
}

Tensor reduce_scatter_shards(const Tensor& local, Communicator& group, std::int64_t dim,
                             ReduceOp op) {
  const std::int64_t n = group.size();
  const std::int64_t size = local.size(dim);
  const Shape block_shape = with_extent(local.shape(), dim, padded_chunk_size(size, n));
  Tensor packed = pack_chunks(local, dim, n);
  Tensor out = Tensor::empty(block_shape, local.dtype(), local.device());
  group.reduce_scatter(out, packed, ReduceScatterOptions{.op = op})->wait();
  const ChunkExtent mine = chunk_extent(size, n, group.rank());
  if (mine.size == block_shape[dim]) return out;
  return out.narrow(dim, 0, mine.size);
}

Tensor all_to_all_shards(const Tensor& local, Communicator& group, std::int64_t from_dim,
                         std::int64_t from_size, std::int64_t to_dim) {
  const std::int64_t n = group.size();
  const std::int64_t to_size = local.size(to_dim);
  const std::size_t nd = local.shape().size();
  Shape block_shape = local.shape();
  block_shape[from_dim] = padded_chunk_size(from_size, n);
  block_shape[to_dim] = padded_chunk_size(to_size, n);
  const bool padded = block_shape[from_dim] != local.size(from_dim) ||
                      block_shape[to_dim] * n != to_size;

  // Send block k: this rank's rows of from_dim, chunk k of to_dim.
  Tensor send = padded ? zeros({n * numel(block_shape)}, local.dtype(), local.device())
                       : Tensor::empty({n * numel(block_shape)}, local.dtype(), local.device());
  for (std::int64_t k = 0; k < n; ++k) {
    const ChunkExtent e = chunk_extent(to_size, n, k);
    if (e.size == 0) continue;
    Tensor dst = block(send, block_shape, k);
    copy_box(dst, zeros_like_index(block_shape), local, at_dim(nd, to_dim, e.offset),
             with_extent(local.shape(), to_dim, e.size));
  }
  Tensor recv = Tensor::empty({n * numel(block_shape)}, local.dtype(), local.device());
  group.all_to_all(recv, send)->wait();

  // Receive block k: rank k's rows of from_dim, this rank's chunk of to_dim.
  const ChunkExtent mine = chunk_extent(to_size, n, group.rank());
  Shape out_shape = local.shape();
  out_shape[from_dim] = from_size;
  out_shape[to_dim] = mine.size;
  Tensor out = Tensor::empty(out_shape, local.dtype(), local.device());
  for (std::int64_t k = 0; k < n; ++k) {
    const ChunkExtent e = chunk_extent(from_size, n, k);
    if (e.size == 0 || mine.size == 0) continue;
    copy_box(out, at_dim(nd, from_dim, e.offset), block(recv, block_shape, k),
             zeros_like_index(block_shape), with_extent(out_shape, from_dim, e.size));
  }
  return out;
}

Tensor scatter_shards(const Tensor& full, Communicator& group, std::int64_t dim, int root) {
  const std::int64_t n = group.size();
  const std::int64_t size = full.size(dim);
  const Shape block_shape = with_extent(full.shape(), dim, padded_chunk_size(size, n));
  Tensor packed = group.rank() == root ? pack_chunks(full, dim, n)
                                       : Tensor::empty({n * numel(block_shape)}, full.dtype(), full.device());
  Tensor out = Tensor::empty(block_shape, full.dtype(), full.device());
  group.scatter(out, packed, ScatterOptions{.root = root})->wait();
  const ChunkExtent mine = chunk_extent(size, n, group.rank());
  if (mine.size == block_shape[dim]) return out;
  return out.narrow(dim, 0, mine.size);
}

}  // namespace tensorpar
