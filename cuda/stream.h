#pragma once
// CUDA streams and events as small owning types, and the rank's current stream.
//
// Every kernel, copy and allocation of a rank runs on the rank's current stream of the tensor's
// device: the legacy default stream unless a StreamGuard names another. The current stream lives
// in the rank context (core/base/rank_context.h, an extension slot taken by cuda/), so a helper
// thread handed the rank's context issues its work on the rank's stream, and each sim rank
// thread may run on a stream of its own.
//
//   cuda::Stream side(0);                        // a new non-blocking stream on cuda:0
//   {
//     cuda::StreamGuard on(0, side.get());       // the rank's work on cuda:0 now goes to `side`
//     Tensor y = relu(x);
//     cuda::Event done;
//     done.record(side.get());
//     done.block(cuda::legacy_stream());         // default-stream work after it waits for y
//   }
#include <cuda_runtime.h>

namespace tensorpar::cuda {

// The legacy default stream (0), which every blocking stream synchronises with.
inline cudaStream_t legacy_stream() { return nullptr; }

// An owned non-blocking stream of one device; destroying it waits for its work. Move-only.
class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }
  // Blocks the host until the work issued so far on the stream is done.
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
};

// An owned event without timing (the cheap kind), for ordering streams and polling completion.
class Event {
 public:
  Event();
  ~Event();
  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return event_; }
  // Captures the work issued so far on `stream`.
  void record(cudaStream_t stream);
  // Work issued on `stream` from now on waits for the recorded work; the host does not wait.
  void block(cudaStream_t stream) const;
  // Whether the recorded work is done (true for an event never recorded).
  bool query() const;
  // Blocks the host until the recorded work is done.
  void synchronize() const;

 private:
  cudaEvent_t event_ = nullptr;
};

// The rank's current stream on `device` (legacy_stream() unless a StreamGuard is alive).
cudaStream_t current_stream(int device);

// Makes `stream` the rank's current stream on `device` for the guard's lifetime. Guards nest.
class StreamGuard {
 public:
  StreamGuard(int device, cudaStream_t stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  cudaStream_t previous_;
};

// Work issued on `later` from now on runs after the work issued so far on `earlier` (an event
// recorded on one, waited on by the other); nothing when they are the same stream.
void order_after(cudaStream_t earlier, cudaStream_t later);

// The CUDA runtime's current device set to `device` for the scope, restored afterwards; the
// kernels set it from their tensors' device index.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace tensorpar::cuda
