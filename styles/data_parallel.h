#pragma once
// Data parallelism over one mesh dim, as PyTorch's DistributedDataParallel (and the composable
// `replicate`) do it: every rank of the data-parallel group holds the same parameters (whole, or
// the same tensor-parallel shards), runs forward and backward on its own rows of the batch, and
// the gradients are then averaged over the group, so that every replica takes the same
// optimizer step.
//
//   DeviceMesh mesh({2, 2}, {"dp", "tp"});             // ranks [[0, 1], [2, 3]]
//   parallelize_transformer(model, mesh["tp"]);         // TP inside each row: {0, 1}, {2, 3}
//   DistributedDataParallel ddp(model, mesh["dp"]);     // DP down each column: {0, 2}, {1, 3}
//   const DataParallelBatch rows = data_parallel_batch(8, mesh["dp"]);  // rows 0-3 or 4-7
//   Tensor loss = cross_entropy(model(x.narrow(0, rows.start, rows.rows)), ...);
//   (loss * rows.loss_scale).backward();                // loss_scale 1: the split is even
//   ddp.reduce_gradients();                             // one all_reduce per bucket
//   opt.step();
//
// Buckets (PyTorch DDP's bucket_cap_mb, 25 MiB by default). The local gradients are packed into
// flat buckets in reverse parameter registration order (roughly the order backward produces
// them); a bucket holds one dtype and is closed as soon as its bytes reach the cap, so the
// parameter that crosses the cap stays in it. reduce_gradients() copies each bucket's gradients
// into one flat tensor, issues one all_reduce (avg) over the data-parallel group, and copies the
// averages back into the gradients. A 2-layer Transformer of dim 64 (about 0.4 MB of float32
// gradients per rank) is one bucket; parameters of 10, 20 and 5 MiB registered in that order,
// with the default cap, give two buckets: {5 MiB, 20 MiB} (25 MiB reached) and {10 MiB}.
// Unlike PyTorch DDP the first bucket is not capped at 1 MiB: every bucket has the same cap.
//
// Collectives: reduce_gradients() issues its all_reduces in the backward phase (CommDebugMode's
// CommPhase::Backward), where DDP's bucket hooks issue them, and after the whole backward pass
// (no overlap with it). A tensor-parallel gradient is reduced through its local shard; a Partial
// one (a sequence-parallel norm's) stays Partial over its own mesh: the average of partial sums
// is a partial sum of averages.
//
// Replicas must start equal: unlike DDP the constructor does not broadcast rank 0's parameters
// (build the model from the same seed on every rank, as `tensorpar train` does).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/dtensor/device_mesh.h"
#include "core/nn/module.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

// This data-parallel rank's rows of a batch of `global_rows`: torch.chunk over the group, so
// ceil(global_rows / n) rows per rank in turn and fewer on the last.
//
// loss_scale makes the averaged gradient the gradient of the global mean: with mean losses
// l_k over rows_k rows, the average over n ranks of (rows_k * n / global_rows) * l_k is
// sum_k rows_k * l_k / global_rows, the mean over every row. 8 rows over 3 ranks: rows 3, 3, 2,
// scales 9/8, 9/8, 6/8; an even split has scale 1 on every rank.
struct DataParallelBatch {
  std::int64_t start = 0;  // first row
  std::int64_t rows = 0;
  double loss_scale = 1.0;
};
// Throws std::invalid_argument naming the rows and the group size when a rank would get no row
// (torch.chunk of 4 rows over 3 ranks gives 2, 2, 0).
DataParallelBatch data_parallel_batch(std::int64_t global_rows, const DeviceMesh& dp_mesh);

// One bucket: parameters (FQN and tensor) in the order their gradients are packed.
struct GradientBucket {
  std::vector<std::pair<std::string, Tensor>> params;
  DType dtype = DType::Float32;
  std::int64_t numel = 0;  // local elements of all its gradients
  std::int64_t bytes() const;
};

// The buckets for `named_parameters` (registration order; those that do not require grad are
// left out) and a cap in bytes, by the rule above. Local sizes: a DTensor counts its local shard.
std::vector<GradientBucket> assign_gradient_buckets(
    const std::vector<std::pair<std::string, Tensor>>& named_parameters,
    std::int64_t bucket_cap_bytes);

struct DataParallelOptions {
  double bucket_cap_mb = 25;  // MiB per bucket
};

class DistributedDataParallel {
 public:
  // `dp_mesh` is the 1-D data-parallel mesh holding this rank (mesh["dp"] of a 2-D mesh); the
  // buckets are fixed here from the module's current parameters (parallelize first).
  DistributedDataParallel(const nn::Module& module, DeviceMesh dp_mesh,
                          const DataParallelOptions& options = {});

  // After backward: averages every parameter's gradient over the data-parallel group, one
  // all_reduce per bucket. Throws std::runtime_error naming a parameter without a gradient.
  void reduce_gradients() const;

  const std::vector<GradientBucket>& buckets() const { return buckets_; }
  const DeviceMesh& mesh() const { return mesh_; }

 private:
  DeviceMesh mesh_;
  std::vector<GradientBucket> buckets_;
};

}  // namespace tensorpar
