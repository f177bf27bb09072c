#include "cuda/caching_allocator.h"

#include <new>
#include <stdexcept>
#include <string>

#include "core/base/error.h"
#include "cuda/cuda_error.h"
#include "cuda/stream.h"

namespace tensorpar::cuda {

// cudaMalloc and cudaFree on one device; out of memory is nullptr, as the pool expects.
class CudaCachingAllocator::Memory final : public DeviceMemory {
 public:
  explicit Memory(int device) : device_(device) {}
  void* raw_allocate(std::size_t bytes) override {
    DeviceScope on(device_);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    check(status, "cudaMalloc");
    return ptr;
  }
  void raw_free(void* ptr) override {
    DeviceScope on(device_);
    check(cudaFree(ptr), "cudaFree");  // waits for the device: no kernel still uses the block
  }
  void order_after(StreamId earlier, StreamId later) override {
    DeviceScope on(device_);
    cuda::order_after(reinterpret_cast<cudaStream_t>(earlier),
                      reinterpret_cast<cudaStream_t>(later));
  }

 private:
  int device_;
};

CudaCachingAllocator::CudaCachingAllocator() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    count = 0;
  }
  for (int d = 0; d < count; ++d) {
    memories_.push_back(std::make_unique<Memory>(d));
    pools_.push_back(std::make_unique<BlockPool>(*memories_.back()));
  }
}

CudaCachingAllocator::~CudaCachingAllocator() = default;

BlockPool& CudaCachingAllocator::pool(int device) const {
  check_arg(device >= 0 && device < int(pools_.size()), "cuda allocator: device cuda:", device,
            " does not exist (", pools_.size(), " CUDA devices)");
  return *pools_[std::size_t(device)];
}

void* CudaCachingAllocator::allocate(std::size_t nbytes) {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return allocate_on(Device{DeviceType::CUDA, device}, nbytes);
}

void* CudaCachingAllocator::allocate_on(Device device, std::size_t nbytes) {
  const auto stream = reinterpret_cast<StreamId>(current_stream(device.index));
  return pool(device.index).allocate(nbytes, stream);
}

void CudaCachingAllocator::deallocate(void* ptr, std::size_t) {
  if (ptr == nullptr) return;
  for (auto& pool : pools_) {
    if (pool->owns(ptr)) {
      pool->deallocate(ptr);
      return;
    }
  }
  throw std::invalid_argument("cuda allocator: deallocate of a pointer it did not allocate");
}

PoolStats CudaCachingAllocator::stats(int device) const { return pool(device).stats(); }

void CudaCachingAllocator::reset_peak(int device) { pool(device).reset_peak(); }

std::size_t CudaCachingAllocator::empty_cache() {
  std::size_t freed = 0;
  for (auto& pool : pools_) freed += pool->empty_cache();
  return freed;
}

CudaCachingAllocator& caching_allocator() {
  static CudaCachingAllocator* allocator = new CudaCachingAllocator;  // outlives every tensor
  return *allocator;
}

PoolStats memory_stats(int device) { return caching_allocator().stats(device); }
void reset_peak_memory(int device) { caching_allocator().reset_peak(device); }
std::size_t empty_cache() { return caching_allocator().empty_cache(); }

}  // namespace tensorpar::cuda
