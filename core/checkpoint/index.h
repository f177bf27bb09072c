#pragma once
// The index of a checkpoint folder (index.json): for every tensor its name, dtype, global shape,
// the mesh and placements it was saved with, and where each of its shards lies.
//
//   DIR/index.json                     written last, by rank 0
//   DIR/g3-rank0.safetensors           rank 0's shards of the save of generation 3
//   DIR/g3-rank1.safetensors           ...; replicated shards are written once, by the lowest
//                                      rank holding them
//
// Example entry: a [10, 4] weight saved on 4 ranks with [S(0)]:
//   "model.w": {"dtype": "F32", "shape": [10, 4],
//               "mesh": {"shape": [4], "ranks": [0, 1, 2, 3], "dim_names": ["tp"]},
//               "placements": ["S(0)"],
//               "shards": [{"file": "g3-rank0.safetensors", "rank": 0, "offsets": [0, 0],
//                           "sizes": [3, 4], "byte_range": [128, 176]}, ...]}
// byte_range is [begin, end) in the file, counted from its first byte.
//
// A lone safetensors file reads as an index too (weights only): each tensor "x" of the file is
// "model.x", one shard covering all of it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"

namespace tensorpar::checkpoint {

struct ShardRecord {
  std::string file;  // relative to the checkpoint folder
  int rank = 0;      // the global rank that wrote it
  Shape offsets;     // global index of the shard's first element
  Shape sizes;
  std::uint64_t begin = 0;  // [begin, end) bytes in the file
  std::uint64_t end = 0;
};

struct TensorRecord {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;       // global
  Shape mesh_shape;  // empty: saved as a plain tensor
  std::vector<int> mesh_ranks;
  std::vector<std::string> mesh_dim_names;
  std::vector<std::string> placements;  // "S(0)", "R"
  std::vector<ShardRecord> shards;
};

// What a save records besides tensors: the training position, the default generator's state and
// user entries (string to string).
struct TrainingRecord {
  std::int64_t step = 0;
  std::uint64_t rng_seed = 0;
  std::uint64_t rng_offset = 0;
  std::map<std::string, std::string> extra;
};

struct CheckpointIndex {
  std::int64_t generation = 0;        // 1 for the first save into a folder, then 2, 3, ...
  int world = 1;                      // ranks of the save
  bool weights_only = false;          // read from a lone safetensors file
  std::string folder;                 // where shard files are looked up ("" for a lone file)
  std::vector<TensorRecord> tensors;  // in save order
  std::string optimizer;              // "Adam", "SGD", ...; empty: no optimizer state
  // Per parameter FQN, the optimizer's counters ({"step": 20} for Adam).
  std::map<std::string, std::map<std::string, std::int64_t>> optimizer_counters;
  TrainingRecord training;

  const TensorRecord* find(const std::string& name) const;
  // Bytes of all shards.
  std::uint64_t data_bytes() const;
};

inline constexpr const char* kIndexFile = "index.json";

std::string index_to_json(const CheckpointIndex& index);
// std::runtime_error naming `where` and the bad field for malformed text.
CheckpointIndex index_from_json(const std::string& text, const std::string& where);

// The index of a checkpoint folder (its index.json) or of a lone .safetensors file.
CheckpointIndex read_checkpoint_index(const std::string& path);

// The file of a shard: folder/file, or the lone file itself.
std::string shard_path(const CheckpointIndex& index, const ShardRecord& shard);

}  // namespace tensorpar::checkpoint
