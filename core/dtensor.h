#pragma once
// DTensor: a tensor distributed over a DeviceMesh — this rank's local tensor plus a spec (mesh,
// one placement per mesh dim, global shape).
//
//   DeviceMesh mesh({4});
//   DTensor x = distribute_tensor(arange(10, DType::Float32), mesh, {Shard(0)});
//   x.to_local();                     // rank 0: [0,1,2], 1: [3,4,5], 2: [6,7,8], 3: [9]
//   x.redistribute({Replicate()});    // one all_gather; every rank holds [0..9]
//   x.full_tensor();                  // the same, as a plain Tensor
//
// Local shapes follow torch.chunk over the mesh dims left to right (dtensor_spec.h), so
// uneven and empty shards are exact. DTensors are values: redistribute returns a new DTensor
// and never changes the source's local data. Ranks outside the mesh hold empty local tensors.
#include <memory>
#include <optional>
#include <string>

#include "core/device_mesh.h"
#include "core/dtensor_spec.h"
#include "core/placement.h"
#include "core/tensor.h"

namespace tensorpar {

struct FromLocalOptions {
  // Check across the mesh (collectively) that the local tensors agree with the placements:
  // dtypes, ranks and shapes consistent; Replicate dims then broadcast from their first rank.
  bool run_check = false;
  // The global shape, required for uneven shards: without it the global shape is inferred
  // assuming even sharding (local extent x mesh size for each Shard). When given, the local
  // shape must be the torch.chunk shard of it at this rank's coordinate.
  std::optional<Shape> shape;
};

class DTensor {
 public:
  DTensor() = default;
  // Wraps a local tensor under a spec, trusting that they agree (no checks, no communication).
  DTensor(Tensor local, std::shared_ptr<const DTensorSpec> spec);

  // Placements default to all-Replicate; negative Shard dims are normalised. No communication
  // unless options.run_check.
  static DTensor from_local(const Tensor& local, const DeviceMesh& mesh,
                            const Placements& placements = {},
                            const FromLocalOptions& options = {});

  bool defined() const { return spec_ != nullptr; }
  // The local tensor itself (shared, not copied).
  const Tensor& to_local() const;
  // The whole tensor on every rank: redistribute to all-Replicate, then the local tensor.
  Tensor full_tensor() const;
  // The same global tensor under other placements (see redistribute.h). A Partial target is only
  // accepted where it equals the current placement; the mesh must be this DTensor's mesh.
  DTensor redistribute(const Placements& placements) const;
  DTensor redistribute(const DeviceMesh& mesh, const Placements& placements) const;

  const DTensorSpec& spec() const;
  const std::shared_ptr<const DTensorSpec>& spec_ptr() const { return spec_; }
  const DeviceMesh& device_mesh() const { return spec().mesh; }
  const Placements& placements() const { return spec().placements; }
  // The global shape.
  const Shape& shape() const { return spec().shape; }
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t numel() const { return tensorpar::numel(shape()); }
  DType dtype() const { return spec().dtype; }
  // "DTensor(local=..., placements=[S(0)], shape=[10], mesh=DeviceMesh([0, 1, 2, 3]))".
  std::string str() const;

 private:
  Tensor local_;
  std::shared_ptr<const DTensorSpec> spec_;
};

// Distributes `tensor` (the same shape on every rank) over the mesh, mesh dim by mesh dim:
// Shard scatters from `src_data_rank`, Replicate broadcasts from it, Partial broadcasts and
// partitions (divides by the mesh-dim size for sum). src_data_rank is a rank within each mesh
// dim's group (so data comes from coordinate (src, src, ...)); other ranks' data is ignored.
// With src_data_rank = std::nullopt nothing is sent: every rank chunks its own copy.
DTensor distribute_tensor(const Tensor& tensor, const DeviceMesh& mesh,
                          const Placements& placements = {},
                          std::optional<int> src_data_rank = 0);

}  // namespace tensorpar
