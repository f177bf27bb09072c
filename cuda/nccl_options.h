#pragma once
// NcclOptions: everything that configures an NCCL communicator, in one struct with defaults,
// instead of environment variables (NCCL's own NCCL_* variables still reach NCCL itself).
//
//   NcclOptions o;
//   o.timeout = Milliseconds(60000);      // a collective not finished after 60 s fails the group
//   o.on_error = NcclErrorHandling::TearDown;
//   auto world = make_nccl_world(store, rank, size, o);
//
// Fields are appended, never reordered (NCCL's ncclConfig_t habit).
#include <cuda_runtime_api.h>

#include <functional>
#include <string>

#include "core/comm/timeout.h"

namespace tensorpar::cuda {

// What the watchdog does once it has aborted a communicator (a timeout, NCCL's asynchronous
// error). Raise: every pending and later Work of the group rethrows the error from wait(), and
// every later collective fails with it. TearDown: also print the error to stderr and end the
// process with exit code 1, so that a launcher (`tensorpar run`, torchrun) takes the job down
// even when no thread of this process calls wait() again.
enum class NcclErrorHandling { Raise, TearDown };

struct NcclOptions {
  // The CUDA device of the communicator; -1: the calling thread's current CUDA device.
  int device = -1;
  // Default timeout of every collective (counted from its issue to its completion on the GPU),
  // and of initialisation and split.
  Milliseconds timeout{300000};
  // How often the watchdog looks at the pending collectives and NCCL's asynchronous error.
  Milliseconds watchdog_interval{100};
  NcclErrorHandling on_error = NcclErrorHandling::Raise;
  // Work::wait() blocks the host until the collective has finished (a debugging aid: errors
  // then surface at the call that caused them). Off: wait() only makes the compute stream wait.
  bool blocking_wait = false;
  // The stream the caller computes on: collectives start after the work queued there, and
  // Work::wait() makes it wait for them. Empty: the legacy default stream (stream 0).
  std::function<cudaStream_t()> compute_stream;
  // The communication stream runs at the device's greatest priority (collectives overtake
  // queued compute kernels).
  bool high_priority_stream = true;
  // Namespace of the communicator's keys on the store (the unique id, split membership).
  std::string prefix = "nccl/";
  // Passed to NCCL's ncclConfig_t when set (-1: NCCL's default): CTAs per collective and the
  // thread-block cluster size on Hopper.
  int min_ctas = -1;
  int max_ctas = -1;
  int cga_cluster_size = -1;
  // A name NCCL's own logs use for the communicator ("" none).
  std::string comm_name;
};

// std::invalid_argument naming the field and its value, e.g.
//   "NcclOptions: timeout must be > 0 ms, got 0 ms"
//   "NcclOptions: min_ctas 8 exceeds max_ctas 4"
void validate(const NcclOptions& options);

}  // namespace tensorpar::cuda
