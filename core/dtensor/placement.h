#pragma once
// Placements: how a DTensor's data lies along one mesh dim.
//
//   Shard(d)      the tensor dim d is split across the mesh dim, torch.chunk style: with size 5
//                 over 4 ranks the local sizes are [2, 2, 1, 0] (ceil(5/4) = 2 each, in turn).
//   Replicate()   every rank of the mesh dim holds the whole (current) tensor.
//   Partial(op)   every rank holds a partial value; the tensor is their reduction with `op`.
//
// String forms: S(0), R, P(sum). Placements are small immutable values, compared by value.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor/reduce_op.h"

namespace tensorpar {

class Placement {
 public:
  enum class Kind : std::uint8_t { Shard, Replicate, Partial };

  static Placement shard(std::int64_t dim) { return Placement(Kind::Shard, dim, ReduceOp::Sum); }
  static Placement replicate() { return Placement(Kind::Replicate, 0, ReduceOp::Sum); }
  static Placement partial(ReduceOp op = ReduceOp::Sum) { return Placement(Kind::Partial, 0, op); }

  Kind kind() const { return kind_; }
  bool is_shard() const { return kind_ == Kind::Shard; }
  bool is_shard(std::int64_t dim) const { return kind_ == Kind::Shard && dim_ == dim; }
  bool is_replicate() const { return kind_ == Kind::Replicate; }
  bool is_partial() const { return kind_ == Kind::Partial; }
  // The sharded tensor dim; throws when this is not a Shard.
  std::int64_t dim() const;
  // The reduction of a Partial; throws when this is not a Partial.
  ReduceOp reduce_op() const;

  // "S(0)", "R", "P(sum)".
  std::string str() const;
  // A compact key for hashing: kind, dim and op packed in 32 bits.
  std::uint32_t key() const;

  friend bool operator==(const Placement& a, const Placement& b) {
    if (a.kind_ != b.kind_) return false;
    if (a.kind_ == Kind::Shard) return a.dim_ == b.dim_;
    if (a.kind_ == Kind::Partial) return a.op_ == b.op_;
    return true;
  }

 private:
  Placement(Kind kind, std::int64_t dim, ReduceOp op) : kind_(kind), op_(op), dim_(dim) {}
  Kind kind_;
  ReduceOp op_;
  std::int64_t dim_;
};

// PyTorch's spellings: Shard(0), Replicate(), Partial(), Partial(ReduceOp::Max).
inline Placement Shard(std::int64_t dim) { return Placement::shard(dim); }
inline Placement Replicate() { return Placement::replicate(); }
inline Placement Partial(ReduceOp op = ReduceOp::Sum) { return Placement::partial(op); }

using Placements = std::vector<Placement>;

// "[S(0), R]".
std::string placements_str(const Placements& placements);
// Parses R, S0, S(0), S(-1), P, P(sum), P(max), P(min), P(avg), P(product); throws
// std::invalid_argument naming the text.
Placement parse_placement(std::string_view text);
// Comma-separated: "S0,S1" or "S(0),R"; commas inside parentheses are not separators.
Placements parse_placements(std::string_view text);

// The torch.chunk rule for one dim: `size` elements split into `num_chunks` chunks of
// ceil(size / num_chunks), filled from chunk 0. Chunk `index` gets (size, offset):
//   size 5, 4 chunks -> (2, 0), (2, 2), (1, 4), (0, 5)
struct ChunkExtent {
  std::int64_t size;
  std::int64_t offset;
};
ChunkExtent chunk_extent(std::int64_t size, std::int64_t num_chunks, std::int64_t index);
// ceil(size / num_chunks): the padded size every chunk has inside a collective.
inline std::int64_t padded_chunk_size(std::int64_t size, std::int64_t num_chunks) {
  return (size + num_chunks - 1) / num_chunks;
}

}  // namespace tensorpar
