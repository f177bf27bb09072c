#pragma once
// The mesh and tensor flags of `tensorpar redistribute`, checked before any rank starts so that
// a bad value is a usage error (exit 2) naming the flag, not a rank failure.
//
//   --mesh 2x3 --names dp,tp   ->  mesh [2, 3], names {"dp", "tp"}
//   --names dp      (2-D mesh) ->  UsageError: 1 name for 2 mesh dims
//   --names dp,dp / a,         ->  UsageError: a repeated / empty name
//   --shape 10x5               ->  [10, 5]; an element count past int64 is refused
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor/shape.h"

namespace tensorpar::cli {

struct MeshFlags {
  Shape mesh;                      // every extent >= 1, at most `max_ranks` ranks in all
  std::vector<std::string> names;  // empty, or one unique non-empty name per mesh dim
};

// --mesh (required) and --names (optional); UsageError naming the flag and its value.
MeshFlags parse_mesh_flags(const std::string& mesh, const std::optional<std::string>& names,
                           std::int64_t max_ranks);

// train's --mesh: the data- and tensor-parallel degrees of a 2-D mesh ("dp", "tp"), tp the
// inner dim (the ranks of one tp group are consecutive). Entries name=degree, comma-separated,
// in any order; a dim left out has degree 1.
//
//   --mesh dp=2,tp=2  ->  {2, 2}: mesh [[0, 1], [2, 3]], tp groups {0, 1} {2, 3}, dp {0, 2} {1, 3}
//   --mesh tp=4       ->  {1, 4}
//   dp=0, tp=x, pp=2, dp=2,dp=2, "", dp  ->  UsageError naming --mesh and the entry
struct DataTensorMesh {
  int dp = 1;
  int tp = 1;
  int ranks() const { return dp * tp; }
};
DataTensorMesh parse_data_tensor_mesh(const std::string& text, int max_ranks);

// --shape: extents >= 0 whose product fits in int64; UsageError naming `flag` otherwise.
Shape parse_shape_flag(const std::string& text, const std::string& flag);

}  // namespace tensorpar::cli
