#include "styles/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/dtensor/placement.h"

namespace tensorpar {

namespace {

// The tensor a rank holds for `t`: a DTensor's local shard (shared, not a copy), else `t`.
Tensor local_part(const Tensor& t) {
  const NoGradGuard no_grad;
  return t.is_distributed() ? DTensor(t).to_local() : t;
}

}  // namespace

DataParallelBatch data_parallel_batch(std::int64_t global_rows, const DeviceMesh& dp_mesh) {
  check_arg(dp_mesh.valid() && dp_mesh.ndim() == 1,
            "data_parallel_batch: dp_mesh must be a 1-D mesh (the data-parallel dim), got ",
            dp_mesh.valid() ? dp_mesh.str() : std::string("an empty mesh"));
  const std::int64_t n = dp_mesh.size();
  const std::int64_t rank = dp_mesh.get_local_rank();
  const std::int64_t per_rank = padded_chunk_size(global_rows, n);
  const ChunkExtent chunk = chunk_extent(global_rows, n, rank);
  DataParallelBatch out;
  out.start = chunk.offset;
  out.rows = chunk.size;
  check_arg(global_rows >= 1 && global_rows - (n - 1) * per_rank >= 1,
            "data_parallel_batch: a batch of ", global_rows, " rows over ", n,
            " data-parallel ranks leaves the last rank no rows (torch.chunk gives ", per_rank,
            " rows per rank); use at least ", (n - 1) * per_rank + 1, " rows or fewer ranks");
  out.loss_scale = static_cast<double>(out.rows * n) / static_cast<double>(global_rows);
  return out;
}

std::int64_t GradientBucket::bytes() const {
  return numel * static_cast<std::int64_t>(dtype_size(dtype));
}

std::vector<GradientBucket> assign_gradient_buckets(
    const std::vector<std::pair<std::string, Tensor>>& named_parameters,
    std::int64_t bucket_cap_bytes) {
  check_arg(bucket_cap_bytes >= 1, "assign_gradient_buckets: bucket_cap_bytes must be >= 1, got ",
            bucket_cap_bytes);
  std::vector<GradientBucket> closed;
  std::map<DType, GradientBucket> open;  // one open bucket per dtype
  for (auto it = named_parameters.rbegin(); it != named_parameters.rend(); ++it) {
    const Tensor& p = it->second;
    if (!p.defined() || !p.requires_grad()) continue;
    const Tensor local = local_part(p);
    auto [slot, fresh] = open.try_emplace(p.dtype());
    GradientBucket& bucket = slot->second;
    if (fresh) bucket.dtype = p.dtype();
    bucket.params.emplace_back(it->first, p);
    bucket.numel += local.numel();
    if (bucket.bytes() >= bucket_cap_bytes) {
      closed.push_back(std::move(bucket));
      open.erase(slot);
    }
  }
  for (auto& [dtype, bucket] : open) closed.push_back(std::move(bucket));
  // In the order their first gradient is ready (the order of the reversed parameters).
  std::map<std::string, std::size_t> ready;
  std::size_t position = 0;
  for (auto it = named_parameters.rbegin(); it != named_parameters.rend(); ++it) {
    ready.emplace(it->first, position++);
  }
  std::stable_sort(closed.begin(), closed.end(),
                   [&](const GradientBucket& a, const GradientBucket& b) {
                     return ready.at(a.params.front().first) < ready.at(b.params.front().first);
                   });
  return closed;
}

DistributedDataParallel::DistributedDataParallel(const nn::Module& module, DeviceMesh dp_mesh,
                                                 const DataParallelOptions& options)
    : mesh_(std::move(dp_mesh)) {
  check_arg(mesh_.valid() && mesh_.ndim() == 1,
            "DistributedDataParallel: the mesh must be 1-D (the data-parallel dim, e.g. "
            "mesh[\"dp\"]), got ",
            mesh_.valid() ? mesh_.str() : std::string("an empty mesh"));
  check_arg(std::isfinite(options.bucket_cap_mb) && options.bucket_cap_mb > 0,
            "DistributedDataParallel: bucket_cap_mb must be positive, got ", options.bucket_cap_mb);
  const auto cap = static_cast<std::int64_t>(options.bucket_cap_mb * 1024 * 1024);
  buckets_ = assign_gradient_buckets(module.named_parameters(), std::max<std::int64_t>(1, cap));
}

void DistributedDataParallel::reduce_gradients() const {
  const NoGradGuard no_grad;
  const CommPhaseScope phase(CommPhase::Backward);
  Communicator& group = mesh_.group(0);
  for (const GradientBucket& bucket : buckets_) {
    std::vector<Tensor> grads;
    std::optional<Device> device;
    for (const auto& [name, p] : bucket.params) {
      const Tensor grad = p.grad();
      check_state(grad.defined(), "DistributedDataParallel::reduce_gradients: parameter '", name,
                  "' has no gradient (was it used in the forward pass?)");
      grads.push_back(local_part(grad));
      if (!device) device = grads.back().device();
    }
    Tensor flat = Tensor::empty({bucket.numel}, bucket.dtype, *device);
    std::int64_t offset = 0;
    for (const Tensor& g : grads) {
      flat.narrow_assign_(0, offset, g.reshape({g.numel()}));
      offset += g.numel();
    }
    group.all_reduce(flat, {.op = ReduceOp::Avg})->wait();
    offset = 0;
    for (Tensor& g : grads) {
      g.copy_(flat.narrow(0, offset, g.numel()).reshape(g.shape()));
      offset += g.numel();
    }
  }
}

}  // namespace tensorpar
