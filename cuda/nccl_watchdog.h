#pragma once
// The watchdog of an NCCL communicator: a thread that makes sure a dead or stuck peer never
// hangs the job. Host-only: an operation is seen through an `is_done` query (an event query on
// the GPU) and the communicator through two hooks, so it is tested without a GPU.
//
// Every `interval` it looks at each pending operation:
//   done (is_done() is true)      released: what it kept alive (its tensors) is dropped
//   past its deadline             CommTimeoutError:
//       "all_reduce timed out after 2000 ms on rank 1 of group [0, 1, 2]: ..."
// and asks the communicator for NCCL's asynchronous error (a peer that died, a network error):
//   reported                      CommError:
//       "all_gather failed on rank 1 of group [0, 1, 2]: NCCL reported an asynchronous error ..."
// On the first failure it calls `abort` once (ncclCommAbort: kernels stuck waiting for a peer
// return), fails every pending operation, and keeps the failure: every operation watched later
// fails with it at once. With NcclErrorHandling::TearDown it then prints the failure to stderr
// and ends the process with exit code 1.
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/comm/timeout.h"
#include "cuda/nccl_options.h"

namespace tensorpar::cuda {

// what() of the exception `error` holds ("an unknown error" for one that is no std::exception).
std::string exception_message(const std::exception_ptr& error);

// One issued operation as the watchdog and its Work see it. Thread-safe.
class WatchedOp {
 public:
  // `what` names it in messages ("all_reduce", "send to rank 3"); `keep_alive` is dropped once
  // the operation is done or failed.
  WatchedOp(std::string what, Milliseconds timeout, std::function<bool()> is_done,
            std::shared_ptr<void> keep_alive = nullptr,
            DeadlineClock::time_point issued = DeadlineClock::now());

  const std::string& what() const { return what_; }
  Milliseconds timeout() const { return timeout_; }
  DeadlineClock::time_point deadline() const { return deadline_; }

  // Queries is_done once (unless already settled): true when the operation has finished. An
  // exception from is_done (a CUDA error) fails the operation and is rethrown.
  bool poll();
  // Done or failed.
  bool settled() const;
  // The failure, or null.
  std::exception_ptr error() const;
  // Marks the operation failed with `error` unless it already settled; returns whether it did.
  bool fail(std::exception_ptr error);

 private:
  const std::string what_;
  const Milliseconds timeout_;
  const DeadlineClock::time_point deadline_;
  std::function<bool()> is_done_;
  mutable std::mutex mutex_;
  bool done_ = false;
  std::exception_ptr error_;
  std::shared_ptr<void> keep_alive_;
};

class NcclWatchdog {
 public:
  struct Hooks {
    // NCCL's asynchronous error of the communicator as text, or nullopt when there is none (or
    // it cannot be asked right now).
    std::function<std::optional<std::string>()> async_error;
    // Aborts the communicator (ncclCommAbort). Called at most once, never under the
    // watchdog's lock.
    std::function<void()> abort;
    // Runs first on the watchdog's thread: the communicator makes its device current there, so
    // the thread's CUDA calls never create a context on device 0 of every process.
    std::function<void()> thread_start;
  };

  // `where`: " on rank 1 of group [0, 1, 2]: ", the location in every message. With
  // `start_thread` false no thread runs and check() is called by hand (tests).
  NcclWatchdog(std::string where, Hooks hooks, Milliseconds interval,
               NcclErrorHandling on_error = NcclErrorHandling::Raise, bool start_thread = true);
  // Stops the thread; pending operations stay as they are.
  ~NcclWatchdog();
  NcclWatchdog(const NcclWatchdog&) = delete;
  NcclWatchdog& operator=(const NcclWatchdog&) = delete;

  // Watches `op` until it settles; after a failure of the group it fails `op` at once.
  void watch(const std::shared_ptr<WatchedOp>& op);
  // One pass: releases the done, fails the first late one or on an asynchronous error.
  void check(DeadlineClock::time_point now = DeadlineClock::now());
  // Fails the group with `error` (a Work::wait timeout, an error seen while issuing): aborts
  // the communicator and fails every pending operation. Only the first failure counts.
  // `cause`, when given, is the operation that failed: it gets `error` itself, every other
  // pending operation a CommError saying the communicator was aborted, quoting `error`.
  void fail(std::exception_ptr error, const WatchedOp* cause = nullptr);
  // The group's failure once there was one, else null.
  std::exception_ptr failure() const;
  // Operations being watched (not yet settled as far as the watchdog has seen).
  std::size_t pending() const;

 private:
  void run();

  const std::string where_;
  const Hooks hooks_;
  const Milliseconds interval_;
  const NcclErrorHandling on_error_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<std::shared_ptr<WatchedOp>> pending_;
  std::exception_ptr failure_;
  std::once_flag abort_once_;
  std::thread thread_;
};

}  // namespace tensorpar::cuda
