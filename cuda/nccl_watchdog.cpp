#include "cuda/nccl_watchdog.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "core/base/error.h"
#include "core/comm/communicator.h"

namespace tensorpar::cuda {

std::string exception_message(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown error";
  }
}

WatchedOp::WatchedOp(std::string what, Milliseconds timeout, std::function<bool()> is_done,
                     std::shared_ptr<void> keep_alive, DeadlineClock::time_point issued)
    : what_(std::move(what)),
      timeout_(timeout),
      deadline_(deadline_after(timeout, issued)),
      is_done_(std::move(is_done)),
      keep_alive_(std::move(keep_alive)) {}

bool WatchedOp::poll() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (done_ || error_) return done_;
  }
  if (!is_done_()) return false;
  std::shared_ptr<void> released;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error_) {
    done_ = true;
    released = std::move(keep_alive_);
  }
  return done_;
}

bool WatchedOp::settled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_ || error_;
}

std::exception_ptr WatchedOp::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

bool WatchedOp::fail(std::exception_ptr error) {
  std::shared_ptr<void> released;
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_ || error_) return false;
  error_ = std::move(error);
  released = std::move(keep_alive_);
  return true;
}

NcclWatchdog::NcclWatchdog(std::string where, Hooks hooks, Milliseconds interval,
                           NcclErrorHandling on_error, bool start_thread)
    : where_(std::move(where)), hooks_(std::move(hooks)), interval_(interval), on_error_(on_error) {
  check_arg(interval.count() > 0, "NcclWatchdog: interval must be > 0 ms, got ", interval.count(),
            " ms");
  if (start_thread) thread_ = std::thread([this] { run(); });
}

NcclWatchdog::~NcclWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void NcclWatchdog::run() {
  if (hooks_.thread_start) {
    try {
      hooks_.thread_start();
    } catch (...) {
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    check();
    lock.lock();
  }
}

void NcclWatchdog::watch(const std::shared_ptr<WatchedOp>& op) {
  std::exception_ptr failure;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failure_) {
      pending_.push_back(op);
      return;
    }
    failure = failure_;
  }
  op->fail(std::make_exception_ptr(
      CommError(cat(op->what(), " failed", where_,
                    "the NCCL communicator was aborted earlier: ", exception_message(failure)))));
}

void NcclWatchdog::check(DeadlineClock::time_point now) {
  std::vector<std::shared_ptr<WatchedOp>> ops;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_) return;
    ops = pending_;
  }
  std::exception_ptr error;
  const WatchedOp* cause = nullptr;
  for (const auto& op : ops) {
    try {
      if (op->poll() || op->settled()) continue;
    } catch (const std::exception& e) {
      error = std::make_exception_ptr(CommError(cat(op->what(), " failed", where_, e.what())));
      cause = op.get();
      break;
    }
    if (now >= op->deadline()) {
      error = std::make_exception_ptr(CommTimeoutError(
          cat(op->what(), " timed out after ", op->timeout().count(), " ms", where_,
              "it did not finish on the GPU (a peer never joined it, died or is stuck); the "
              "watchdog aborted the NCCL communicator")));
      cause = op.get();
      break;
    }
  }
  if (!error && hooks_.async_error) {
    if (const std::optional<std::string> text = hooks_.async_error()) {
      auto oldest =
          std::find_if(ops.begin(), ops.end(), [](const auto& op) { return !op->settled(); });
      cause = oldest == ops.end() ? nullptr : oldest->get();
      error = std::make_exception_ptr(
          CommError(cat(cause ? cause->what() : std::string("the communicator"), " failed", where_,
                        "NCCL reported an asynchronous error: ", *text,
                        "; the watchdog aborted the NCCL communicator")));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(pending_, [](const auto& op) { return op->settled(); });
  }
  if (error) fail(error, cause);
}

void NcclWatchdog::fail(std::exception_ptr error, const WatchedOp* cause) {
  std::vector<std::shared_ptr<WatchedOp>> ops;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_) return;
    failure_ = error;
    ops.swap(pending_);
  }
  std::call_once(abort_once_, [this] {
    if (!hooks_.abort) return;
    try {
      hooks_.abort();
    } catch (...) {
    }
  });
  const std::string message = exception_message(error);
  for (const auto& op : ops) {
    if (op.get() == cause) {
      op->fail(error);
    } else {
      op->fail(std::make_exception_ptr(CommError(
          cat(op->what(), " failed", where_, "the NCCL communicator was aborted: ", message))));
    }
  }
  if (on_error_ == NcclErrorHandling::TearDown) {
    std::fprintf(stderr, "tensorpar: %s; ending the process (NcclErrorHandling::TearDown)\n",
                 message.c_str());
    std::fflush(nullptr);
    std::_Exit(1);
  }
}

std::exception_ptr NcclWatchdog::failure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failure_;
}

std::size_t NcclWatchdog::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_.size();
}

}  // namespace tensorpar::cuda
