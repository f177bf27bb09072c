#pragma once
// Registers the nccl backend with core's backend registry (core/comm/backend_registry.h), so that
// ProcessWorld("nccl") and `tensorpar train --backend nccl` build an NcclCommunicator world.
//
// The world's device is the rank's current device when that is a CUDA device (the CLI makes
// cuda:LOCAL_RANK current before joining), else the thread's current CUDA device; the collective
// timeout is the job's (BackendContext::timeout). Everything else comes from `base`.
#include "cuda/nccl_options.h"

namespace tensorpar::cuda {

// Idempotent and thread-safe (a second call replaces the factory); call once per process
// before ProcessWorld.
void register_nccl_backend(NcclOptions base = {});

}  // namespace tensorpar::cuda
