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

#include "core/dtensor/device_mesh.h"
#include "core/dtensor/dtensor_spec.h"
#include "core/dtensor/placement.h"
#include "core/tensor/tensor.h"

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

// What a distributed TensorImpl holds (tensor.h): this rank's local tensor and the spec.
struct DistributedPart {
  Tensor local;
  std::shared_ptr<const DTensorSpec> spec;
};

// A DTensor is a Tensor (is_distributed() is true), so it flows through every op, module and
// optimizer; this class adds the DTensor API. Ops on DTensors follow per-op sharding rules
// (ops/sharding.h) and are recorded by autograd like any other op; their gradients are DTensors.
class DTensor : public Tensor {
 public:
  DTensor() = default;
  // Wraps a local tensor under a spec, trusting that they agree (no checks, no communication,
  // not recorded by autograd).
  DTensor(Tensor local, std::shared_ptr<const DTensorSpec> spec);
  // A Tensor that is distributed; "expected a DTensor" otherwise.
  explicit DTensor(const Tensor& tensor);

  // Placements default to all-Replicate; negative Shard dims are normalised. No communication
  // unless options.run_check. Differentiable: the gradient is redistributed to `placements`
  // (a Partial one read as Replicate) and handed to `local`. That is where ColwiseParallel's
  // backward all_reduce comes from.
  static DTensor from_local(const Tensor& local, const DeviceMesh& mesh,
                            const Placements& placements = {},
                            const FromLocalOptions& options = {});

  // This rank's local tensor. Differentiable without communication: the gradient coming back is
  // wrapped as a DTensor with `grad_placements` (default: this DTensor's placements). Under
  // no-grad (or when nothing requires grad) it is the local tensor itself, shared.
  Tensor to_local(const std::optional<Placements>& grad_placements = std::nullopt) const;
  // The whole tensor on every rank: redistribute to all-Replicate, then to_local(grad_placements).
  Tensor full_tensor(const std::optional<Placements>& grad_placements = std::nullopt) const;
  // The same global tensor under other placements (see redistribute.h). A Partial target is only
  // accepted where it equals the current placement; the mesh must be this DTensor's mesh.
  // Differentiable: the gradient goes from `placements` back to the current placements, a
  // Partial one read as Replicate.
  DTensor redistribute(const Placements& placements) const;
  DTensor redistribute(const DeviceMesh& mesh, const Placements& placements) const;

  const DTensorSpec& spec() const;
  const std::shared_ptr<const DTensorSpec>& spec_ptr() const;
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
  const DistributedPart& part() const;
};

// redistribute() without the user-facing Partial check: R -> P targets are allowed (the
// partitioned value). Sharding rules use it; recorded by autograd like redistribute().
DTensor redistribute_internal(const DTensor& x, const Placements& placements);

// The sum of two gradients of one DTensor (autograd.h's accumulate_grads). Per mesh dim: equal
// placements add locally; a Partial beside anything else stays Partial (the other addend is
// partitioned); a Shard beside a Replicate stays Shard (the replica is chunked locally); two
// different Shard dims meet at the first addend's (all_to_all).
DTensor accumulate_dtensor_grads(const DTensor& a, const DTensor& b);

// Distributes `tensor` (the same shape on every rank) over the mesh, mesh dim by mesh dim:
// Shard scatters from `src_data_rank`, Replicate broadcasts from it, Partial broadcasts and
// partitions (divides by the mesh-dim size for sum). src_data_rank is a rank within each mesh
// dim's group (so data comes from coordinate (src, src, ...)); other ranks' data is ignored.
// With src_data_rank = std::nullopt nothing is sent: every rank chunks its own copy.
DTensor distribute_tensor(const Tensor& tensor, const DeviceMesh& mesh,
                          const Placements& placements = {},
                          std::optional<int> src_data_rank = 0);

}  // namespace tensorpar
