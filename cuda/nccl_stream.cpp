#include "cuda/nccl_stream.h"

#include <stdexcept>

#include "core/base/error.h"

namespace tensorpar::cuda {

void cuda_check(cudaError_t rc, const std::string& what) {
  if (rc == cudaSuccess) return;
  throw std::runtime_error(cat(what, ": CUDA error '", cudaGetErrorString(rc), "'"));
}

CommEvent::CommEvent() {
  cuda_check(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
}

CommEvent::~CommEvent() {
  if (event_) cudaEventDestroy(event_);
}

void CommEvent::record(cudaStream_t stream) {
  cuda_check(cudaEventRecord(event_, stream), "cudaEventRecord");
}

bool CommEvent::query() const {
  const cudaError_t rc = cudaEventQuery(event_);
  if (rc == cudaErrorNotReady) return false;
  cuda_check(rc, "cudaEventQuery");
  return true;
}

CommStream::CommStream(bool priority_high) {
  int least = 0, greatest = 0;
  cuda_check(cudaDeviceGetStreamPriorityRange(&least, &greatest),
             "cudaDeviceGetStreamPriorityRange");
  cuda_check(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking,
                                          priority_high ? greatest : least),
             "cudaStreamCreateWithPriority");
}

CommStream::~CommStream() {
  if (stream_) cudaStreamDestroy(stream_);
}

void CommStream::wait(const CommEvent& event) {
  cuda_check(cudaStreamWaitEvent(stream_, event.get(), 0), "cudaStreamWaitEvent");
}

}  // namespace tensorpar::cuda
