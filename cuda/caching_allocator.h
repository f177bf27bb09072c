#pragma once
// The CUDA caching allocator: one BlockPool (block_pool.h: size classes, stream-ordered reuse,
// statistics) per device, over cudaMalloc and cudaFree. Registered for DeviceType::CUDA by
// register_cuda_device(); a tensor's block belongs to the rank's current stream on its device
// (stream.h) when it is made.
//
//   Tensor t = empty({1024, 1024}, DType::Float32, cuda::cuda_device(0));   // 4 MiB reserved
//   t = Tensor();                                  // back to the free list, still reserved
//   cuda::memory_stats(0);                         // allocated 0, reserved 4 MiB, peak 4 MiB
//   cuda::empty_cache();                           // reserved 0
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "core/tensor/device.h"
#include "cuda/block_pool.h"

namespace tensorpar::cuda {

class CudaCachingAllocator final : public Allocator {
 public:
  CudaCachingAllocator();
  ~CudaCachingAllocator() override;

  // On the CUDA runtime's current device.
  void* allocate(std::size_t nbytes) override;
  void* allocate_on(Device device, std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;

  PoolStats stats(int device) const;
  void reset_peak(int device);
  // Every device's cached blocks back to the driver; returns the bytes freed.
  std::size_t empty_cache();

 private:
  BlockPool& pool(int device) const;
  class Memory;
  std::vector<std::unique_ptr<Memory>> memories_;
  std::vector<std::unique_ptr<BlockPool>> pools_;
};

// The allocator registered for DeviceType::CUDA (made on first use, never destroyed).
CudaCachingAllocator& caching_allocator();
PoolStats memory_stats(int device);
void reset_peak_memory(int device);
std::size_t empty_cache();

}  // namespace tensorpar::cuda
