#pragma once
// Pinned (page-locked) host memory: the DMA engines read and write it directly, so transfers
// through it run at full bus speed and can be asynchronous. The device interface stages host
// transfers through a small pool of these (device_interface.cu).
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace tensorpar::cuda {

// An owned pinned buffer (cudaHostAlloc); move-only.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// Staging buffers of kBytes each, lent one per transfer and returned (rank threads transfer at
// the same time, each with its own buffer).
class PinnedPool {
 public:
  static constexpr std::size_t kBytes = std::size_t{4} << 20;
  std::unique_ptr<PinnedBuffer> take();
  void give_back(std::unique_ptr<PinnedBuffer> buffer);

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<PinnedBuffer>> free_;
};

}  // namespace tensorpar::cuda
