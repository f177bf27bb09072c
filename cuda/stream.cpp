#include "cuda/stream.h"

#include <array>
#include <atomic>
#include <string>
#include <utility>

#include "core/base/error.h"
#include "core/base/rank_context.h"
#include "cuda/cuda_error.h"

namespace tensorpar::cuda {

namespace {

constexpr int kMaxDevices = 64;

// The rank's current stream per device, one atomic word each: a helper thread handed the rank's
// context reads it while the rank runs (docs/rank_context.md's contract).
struct StreamState {
  std::array<std::atomic<cudaStream_t>, kMaxDevices> current{};
};

const RankContext::Slot<StreamState>& stream_slot() {
  static const RankContext::Slot<StreamState> slot = RankContext::add_slot<StreamState>();
  return slot;
}

std::atomic<cudaStream_t>& current_word(int device) {
  check_arg(device >= 0 && device < kMaxDevices, "cuda stream: device index ", device,
            " is outside [0, ", kMaxDevices, ")");
  return RankContext::current().get(stream_slot()).current[std::size_t(device)];
}

}  // namespace

Stream::Stream(int device) : device_(device) {
  DeviceScope on(device);
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
}

// Waits for the stream's work first: blocks the caching allocator keeps in this stream's free
// list are then idle, safe for whichever stream later gets the same handle.
Stream::~Stream() {
  if (stream_ == nullptr) return;
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
}

Stream::Stream(Stream&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)), device_(other.device_) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    if (stream_ != nullptr) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
    stream_ = std::exchange(other.stream_, nullptr);
    device_ = other.device_;
  }
  return *this;
}

void Stream::synchronize() const { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

Event::Event() {
  check(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
}

Event::~Event() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

Event::Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

void Event::record(cudaStream_t stream) {
  check(cudaEventRecord(event_, stream), "cudaEventRecord");
}

void Event::block(cudaStream_t stream) const {
  check(cudaStreamWaitEvent(stream, event_, 0), "cudaStreamWaitEvent");
}

bool Event::query() const {
  const cudaError_t status = cudaEventQuery(event_);
  if (status == cudaErrorNotReady) {
    (void)cudaGetLastError();  // not an error: clear it
    return false;
  }
  check(status, "cudaEventQuery");
  return true;
}

void Event::synchronize() const { check(cudaEventSynchronize(event_), "cudaEventSynchronize"); }

cudaStream_t current_stream(int device) {
  return current_word(device).load(std::memory_order_relaxed);
}

StreamGuard::StreamGuard(int device, cudaStream_t stream)
    : device_(device),
      previous_(current_word(device).exchange(stream, std::memory_order_relaxed)) {}

StreamGuard::~StreamGuard() { current_word(device_).store(previous_, std::memory_order_relaxed); }

void order_after(cudaStream_t earlier, cudaStream_t later) {
  if (earlier == later) return;
  Event event;
  event.record(earlier);
  event.block(later);
}  // destroying a recorded event is safe: its resources go once the work is done

DeviceScope::DeviceScope(int device) {
  check(cudaGetDevice(&previous_), "cudaGetDevice");
  if (previous_ == device) {
    previous_ = -1;
    return;
  }
  check(cudaSetDevice(device), "cudaSetDevice");
}

DeviceScope::~DeviceScope() {
  if (previous_ >= 0) cudaSetDevice(previous_);
}

}  // namespace tensorpar::cuda
