#include "cuda/nccl_work.h"

#include <thread>
#include <utility>

#include "core/base/error.h"

namespace tensorpar::cuda {

NcclWork::NcclWork(std::shared_ptr<WatchedOp> op, std::shared_ptr<CommEvent> done,
                   std::weak_ptr<NcclWatchdog> watchdog,
                   std::function<cudaStream_t()> compute_stream, bool blocking, std::string where)
    : op_(std::move(op)),
      done_(std::move(done)),
      watchdog_(std::move(watchdog)),
      compute_stream_(std::move(compute_stream)),
      blocking_(blocking),
      where_(std::move(where)) {}

bool NcclWork::is_completed() const {
  try {
    return op_->poll() || op_->settled();
  } catch (const std::exception&) {
    return true;  // the query failed: the failure is the watchdog's to report through wait()
  }
}

void NcclWork::wait(std::optional<Milliseconds> timeout) {
  check_timeout("Work::wait", timeout);
  if (auto error = op_->error()) std::rethrow_exception(error);
  if (blocking_ || timeout) {
    block(timeout);
    return;
  }
  const cudaStream_t compute = compute_stream_ ? compute_stream_() : cudaStream_t{};
  cuda_check(cudaStreamWaitEvent(compute, done_->get(), 0),
             cat(op_->what(), ": making the compute stream wait"));
}

void NcclWork::block(std::optional<Milliseconds> timeout) {
  const auto deadline = timeout ? deadline_after(*timeout) : DeadlineClock::time_point::max();
  // Polls with a growing pause (1 us to 1 ms): short collectives return within microseconds
  // without a core spinning through long ones.
  auto pause = std::chrono::microseconds(1);
  while (true) {
    if (auto error = op_->error()) std::rethrow_exception(error);
    bool done = false;
    try {
      done = op_->poll();
    } catch (const std::exception& e) {
      auto error =
          std::make_exception_ptr(CommError(cat(op_->what(), " failed", where_, e.what())));
      if (auto watchdog = watchdog_.lock()) watchdog->fail(error, op_.get());
      std::rethrow_exception(error);
    }
    if (done) return;
    if (DeadlineClock::now() >= deadline) {
      auto error = std::make_exception_ptr(CommTimeoutError(
          cat(op_->what(), ": Work::wait timed out after ", timeout->count(), " ms", where_,
              "the collective did not finish on the GPU; the NCCL communicator was aborted")));
      if (auto watchdog = watchdog_.lock()) watchdog->fail(error, op_.get());
      op_->fail(error);
      std::rethrow_exception(op_->error() ? op_->error() : error);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

}  // namespace tensorpar::cuda
