#pragma once
// The CUDA objects the NCCL communicator owns, as small RAII handles over the runtime API: its
// communication stream, the events that order it against the compute stream, and a scope that
// makes the communicator's device current for the calls it issues.
//
//   CommStream comm(device);                 // a non-blocking, high-priority stream on `device`
//   CommEvent ready;  ready.record(compute);  // inputs written on the compute stream ...
//   comm.wait(ready);                         // ... are read by the collective only after that
//
// cuda_check turns a runtime error into std::runtime_error naming what failed:
//   "cudaStreamCreate for the NCCL stream on cuda:1: CUDA error 'invalid device ordinal'"
#include <cuda_runtime_api.h>

#include <string>

#include "cuda/stream.h"

namespace tensorpar::cuda {

// Throws std::runtime_error "<what>: CUDA error '<message>'" unless rc is cudaSuccess.
void cuda_check(cudaError_t rc, const std::string& what);

// Makes `device` the calling thread's current CUDA device for the scope, then restores the one
// that was current: the device's own scope (cuda/stream.h).
using CudaDeviceScope = DeviceScope;

// An event without timing (the cheapest kind), for ordering and completion queries.
class CommEvent {
 public:
  CommEvent();
  ~CommEvent();
  CommEvent(const CommEvent&) = delete;
  CommEvent& operator=(const CommEvent&) = delete;

  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  // Whether the work recorded before it has finished; never blocks. A failure of that work
  // (cudaErrorLaunchFailure, ...) is thrown as cuda_check does.
  bool query() const;

 private:
  cudaEvent_t event_ = nullptr;
};

// A stream of the current device that does not synchronise with the legacy default stream.
class CommStream {
 public:
  // `priority_high`: the device's greatest priority, so collectives start ahead of queued
  // compute kernels (what overlap needs).
  explicit CommStream(bool priority_high = true);
  ~CommStream();
  CommStream(const CommStream&) = delete;
  CommStream& operator=(const CommStream&) = delete;

  cudaStream_t get() const { return stream_; }
  // Work submitted to this stream later waits for `event` (host does not block).
  void wait(const CommEvent& event);

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace tensorpar::cuda
