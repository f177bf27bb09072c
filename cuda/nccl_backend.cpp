#include "cuda/nccl_backend.h"

#include "core/comm/backend_registry.h"
#include "core/tensor/device.h"
#include "cuda/nccl_communicator.h"
#include "cuda/stream.h"

namespace tensorpar::cuda {

void register_nccl_backend(NcclOptions base) {
  register_backend("nccl", [base](const BackendContext& ctx) -> std::shared_ptr<Communicator> {
    NcclOptions options = base;
    options.timeout = ctx.timeout;
    if (options.device < 0 && current_device().type == DeviceType::CUDA) {
      options.device = current_device().index;
    }
    if (!options.compute_stream && options.device >= 0) {
      // the rank's current stream on its device (cuda/stream.h), where its kernels run
      options.compute_stream = [device = options.device] { return current_stream(device); };
    }
    return make_nccl_world(ctx.store, ctx.rank, ctx.size, std::move(options));
  });
}

}  // namespace tensorpar::cuda
