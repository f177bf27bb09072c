#pragma once
// Redistribute: moving a DTensor's local data from one list of placements to another.
//
// Planning (greedy, as PyTorch's default planner). A 1-D mesh takes one direct step. On an n-D
// mesh, when the source has more than one shard, a reverse pass walks mesh dims from last to
// first and emits a step for each dim whose placement differs from its target; a target Shard(d)
// whose earlier mesh dims shard d differently (the nesting is misaligned) becomes Replicate for
// now. A forward pass from the first mesh dim then emits the remaining steps (re-sharding what
// the reverse pass replicated). Example on a 2x2 mesh, [S(0), S(1)] -> [S(1), S(0)]:
//   S(0)S(1) -> S(0)R -> S(1)R -> S(1)S(0)     (all_gather, all_to_all, local chunk)
//
// Each step changes one mesh dim m, with the transition table
//   S(d) -> R      all_gather over m's group (padded to ceil(n_d / n) and unpadded)
//   P    -> R      all_reduce with the Partial's op
//   P    -> S(d)   reduce_scatter (padded)
//   S(i) -> S(j)   all_to_all (padded on both dims)
//   R    -> S(d)   local chunk, no communication
//   R    -> P(op)  local: divide by n for sum, identity for avg/max/min (internal use only)
//   P(a) -> P(a)   no-op; P(a) -> P(b) and S -> P are rejected
// Steps on mesh dims of size 1 never communicate. Padding is computed against the logical
// shape at m (the global shape with the current Shards of mesh dims before m applied), so
// uneven and empty shards are exact on every mesh.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/dtensor/dtensor_spec.h"
#include "core/dtensor/placement.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

struct RedistributeStep {
  std::int64_t mesh_dim;
  Placement from;
  Placement to;
};

struct RedistributePlan {
  std::vector<RedistributeStep> steps;
};

// The collective a step issues, or nullopt for local steps (R -> S, R -> P, P -> P).
std::optional<CollectiveKind> step_collective(const Placement& from, const Placement& to);
// PyTorch's comm type key: "allreduce_sum", "allreduce_max", "reduce_scatter_sum",
// "all_gather", "all_to_all", or "" for a local step.
std::string comm_type_key(const Placement& from, const Placement& to);

// The greedy plan; throws std::invalid_argument for transitions that cannot be planned
// (S -> P, P(a) -> P(b)). Plans are cached per rank context (core/base/rank_context.h) by (mesh
// shape, source, target), at most kRedistributePlanCacheCapacity of them, the least recently
// used dropped first; the reference stays valid until that many other plans have been made in
// the context.
inline constexpr std::size_t kRedistributePlanCacheCapacity = 1024;
const RedistributePlan& plan_redistribute(const Shape& mesh_shape, const Placements& source,
                                          const Placements& target);
// Number of redistribute plans cached in this rank context.
std::size_t redistribute_plan_cache_size();
RedistributePlan plan_redistribute_uncached(const Shape& mesh_shape, const Placements& source,
                                            const Placements& target);
// The plan as a chain of states, one entry per mesh dim; "[k]" marks the position of a mesh
// dim among several that shard the same tensor dim:
//   "S(0)[0]S(0)[1] -> S(0)R -> RR"
std::string plan_path(const Placements& source, const RedistributePlan& plan);
// The number of collectives the plan issues on a mesh of this shape.
std::int64_t plan_collective_count(const Shape& mesh_shape, const RedistributePlan& plan);

// R -> P(op) on a mesh dim of size n: the local value each rank keeps so that reducing with op
// gives the replica back (replica / n for sum, the replica itself for avg, max and min).
Tensor partition_value(const Tensor& local, ReduceOp op, std::int64_t n, std::int64_t mesh_dim);

// Runs the plan for this rank's local tensor of a DTensor with `spec`, returning the local
// tensor under `target`. A rank outside the mesh gets `local` back unchanged. Internal
// transitions (R -> P) are allowed here; DTensor::redistribute rejects them for users.
// The result never aliases memory that `local` owns unless no step changed anything.
Tensor redistribute_local(const Tensor& local, const DTensorSpec& spec, const Placements& target);

}  // namespace tensorpar
