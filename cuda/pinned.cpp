#include "cuda/pinned.h"

#include <utility>

#include "cuda/cuda_error.h"

namespace tensorpar::cuda {

PinnedBuffer::PinnedBuffer(std::size_t bytes) : size_(bytes) {
  check(cudaHostAlloc(&data_, bytes == 0 ? 1 : bytes, cudaHostAllocPortable), "cudaHostAlloc");
}

PinnedBuffer::~PinnedBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

std::unique_ptr<PinnedBuffer> PinnedPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      auto buffer = std::move(free_.back());
      free_.pop_back();
      return buffer;
    }
  }
  return std::make_unique<PinnedBuffer>(kBytes);
}

void PinnedPool::give_back(std::unique_ptr<PinnedBuffer> buffer) {
  std::lock_guard lock(mutex_);
  free_.push_back(std::move(buffer));
}

}  // namespace tensorpar::cuda
