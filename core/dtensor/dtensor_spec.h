#pragma once
// DTensorSpec: what a DTensor is across the mesh — mesh, one placement per mesh dim, global
// shape and dtype — and the torch.chunk layout rules that map it to each rank's local shard.
//
// Several mesh dims may shard the same tensor dim; they split left to right (mesh dim 0 first).
// Worked example: global (2, 5) on a 2x2 mesh with [S(1), S(1)]: mesh dim 0 splits the 5
// columns into [3, 2]; mesh dim 1 splits 3 into [2, 1] and 2 into [1, 1]:
//   coordinate (0,0): local (2,2) offset (0,0)    (0,1): local (2,1) offset (0,2)
//   coordinate (1,0): local (2,1) offset (0,3)    (1,1): local (2,1) offset (0,4)
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtensor/device_mesh.h"
#include "core/tensor/dtype.h"
#include "core/dtensor/placement.h"
#include "core/tensor/shape.h"

namespace tensorpar {

struct DTensorSpec {
  DeviceMesh mesh;
  Placements placements;  // one per mesh dim
  Shape shape;            // global
  DType dtype = DType::Float32;

  // Product of the mesh sizes of the Shard placements.
  std::int64_t num_shards() const;
  bool has_partial() const;
  // "DTensorSpec(placements=[S(0), R], shape=[10, 5], dtype=float32)".
  std::string str() const;
};

struct LocalShard {
  Shape shape;   // local extents
  Shape offset;  // global index of the local element 0 along each dim
};

// This coordinate's shard of `global_shape` under `placements` (mesh dims left to right).
LocalShard local_shard_of(const Shape& global_shape, const Shape& mesh_shape,
                          const Placements& placements, const std::vector<std::int64_t>& coordinate);

// The shape of the tensor as mesh dim `mesh_dim` sees it: the global shape with the Shards of
// mesh dims 0 .. mesh_dim-1 applied at `coordinate`. The collectives of mesh dim `mesh_dim` pad
// and unpad against it.
Shape logical_shape_at(const Shape& global_shape, const Shape& mesh_shape,
                       const Placements& placements, const std::vector<std::int64_t>& coordinate,
                       std::int64_t mesh_dim);

// Checks the placements against a mesh and a tensor rank and returns them with negative Shard
// dims normalised: Shard(-1) on a 2-D tensor becomes Shard(1). `what` names the caller.
Placements normalize_placements(const Placements& placements, std::int64_t mesh_ndim,
                                std::int64_t tensor_ndim, const char* what);

}  // namespace tensorpar
