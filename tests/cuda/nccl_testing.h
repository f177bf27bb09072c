#pragma once
// Helpers for the NCCL suites on a GPU: whether this machine has CUDA devices, CUDA memory for
// tensors when the build registers none of its own (a plain cudaMalloc allocator and synchronous
// copies: enough to move test data to the device and back), and W rank threads, one GPU each,
// each with its own NcclCommunicator over one HashStore.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <memory>

#include "core/comm/hash_store.h"
#include "core/tensor/device_interface.h"
#include "core/tensor/tensor.h"
#include "cuda/cuda_probe.h"
#include "cuda/nccl_communicator.h"
#include "cuda/nccl_stream.h"
#include "support/rank_threads.h"

namespace tensorpar::nccl_testing {

using namespace std::chrono_literals;

inline int cuda_devices() { return cuda::probe_cuda_devices().count; }

class TestCudaAllocator final : public Allocator {
 public:
  void* allocate(std::size_t nbytes) override {
    void* p = nullptr;
    cuda::cuda_check(cudaMalloc(&p, nbytes == 0 ? 1 : nbytes), "test allocator: cudaMalloc");
    return p;
  }
  void deallocate(void* ptr, std::size_t) override { cudaFree(ptr); }
};

class TestCudaInterface final : public DeviceInterface {
 public:
  TestCudaInterface() : DeviceInterface("cuda") {}
  void copy(void* dst, const void* src, std::size_t bytes) override {
    cuda::cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "test copy");
  }
  void copy_from_host(void* dst, const void* src, std::size_t bytes) override {
    cuda::cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "test copy_from_host");
  }
  void copy_to_host(void* dst, const void* src, std::size_t bytes) override {
    cuda::cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "test copy_to_host");
  }
};

// Registers the test allocator and interface for DeviceType::CUDA unless the build has its own.
inline void ensure_cuda_memory() {
  try {
    allocator_for(DeviceType::CUDA);
    return;
  } catch (const std::invalid_argument&) {
  }
  static TestCudaAllocator allocator;
  static TestCudaInterface interface;
  register_allocator(DeviceType::CUDA, &allocator);
  register_device_interface(DeviceType::CUDA, &interface);
}

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
