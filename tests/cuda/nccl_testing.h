#pragma once
// Helpers for the NCCL suites on a GPU: whether this machine has CUDA devices, the CUDA device
// registered for their tensors, and W rank threads, one GPU each, each with its own
// NcclCommunicator over one HashStore.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <memory>

#include "core/comm/hash_store.h"
#include "core/tensor/tensor.h"
#include "cuda/cuda_device.h"
#include "cuda/cuda_probe.h"
#include "cuda/nccl_communicator.h"
#include "cuda/nccl_stream.h"
#include "support/rank_threads.h"

namespace tensorpar::nccl_testing {

using namespace std::chrono_literals;

inline int cuda_devices() { return cuda::probe_cuda_devices().count; }

// Registers the CUDA device (its allocator, device interface and kernels; idempotent).
inline void ensure_cuda_memory() { cuda::register_cuda_device(); }

#define TENSORPAR_REQUIRE_CUDA_DEVICES(n)                                                 \
  do {                                                                                    \
    const int found = ::tensorpar::nccl_testing::cuda_devices();                          \
    if (found == 0) GTEST_SKIP() << "no CUDA device";                                     \
    if (found < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA devices, found " << found; \
    ::tensorpar::nccl_testing::ensure_cuda_memory();                                      \
  } while (0)

inline Device gpu(int index) { return Device{DeviceType::CUDA, index}; }

// Runs body(comm, rank) on `world` threads, rank r on GPU r, and rethrows the lowest rank's
// failure. Each communicator is destroyed when its body returns.
template <class F>
void run_nccl(int world, F&& body, Milliseconds timeout = 20000ms) {
  auto store = std::make_shared<HashStore>(timeout);
  testing_support::run_rank_threads(world, [&](int r) {
    cuda::cuda_check(cudaSetDevice(r), "cudaSetDevice");
    cuda::NcclOptions options;
    options.device = r;
    options.timeout = timeout;
    auto comm = cuda::make_nccl_world(store, r, world, options);
    body(*comm, r);
  });
}

}  // namespace tensorpar::nccl_testing
