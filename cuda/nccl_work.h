#pragma once
// The Work of an NCCL collective. The collective runs on the communicator's stream; its end is
// an event recorded there.
//
//   wait()           the compute stream waits for the event (cudaStreamWaitEvent): the host
//                    goes on at once, and kernels queued after wait() see the collective's
//                    results. Rethrows the collective's failure when the watchdog has seen one.
//   wait(timeout)    blocks the host until the collective has finished, as synchronize();
//                    past `timeout` it fails the group (CommTimeoutError, the communicator is
//                    aborted). So does every wait() with NcclOptions::blocking_wait.
//   synchronize()    blocks the host until the collective has finished or failed (the
//                    watchdog fails it at its deadline), then rethrows its failure.
//   is_completed()   finished or failed, without blocking.
#include <memory>

#include "core/comm/communicator.h"
#include "cuda/nccl_stream.h"
#include "cuda/nccl_watchdog.h"

namespace tensorpar::cuda {

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<WatchedOp> op, std::shared_ptr<CommEvent> done,
           std::weak_ptr<NcclWatchdog> watchdog, std::function<cudaStream_t()> compute_stream,
           bool blocking, std::string where);

  bool is_completed() const override;
  void wait(std::optional<Milliseconds> timeout = std::nullopt) override;
  void synchronize() { block(std::nullopt); }

 private:
  void block(std::optional<Milliseconds> timeout);

  std::shared_ptr<WatchedOp> op_;
  std::shared_ptr<CommEvent> done_;
  std::weak_ptr<NcclWatchdog> watchdog_;
  std::function<cudaStream_t()> compute_stream_;
  bool blocking_;
  std::string where_;
};

}  // namespace tensorpar::cuda
