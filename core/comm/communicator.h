#pragma once
// The Communicator: the only way DTensor, the styles and everything above talk across ranks.
//
// Buffers are flat: what matters is dtype and element count, not shape.
//   all_reduce(t)              every rank's t becomes the reduction of all ranks' t (in place)
//   all_gather(out, in)        out holds size() blocks of in.numel() elements, block i = rank i's in
//   reduce_scatter(out, in)    in holds size() blocks of out.numel(); out = reduction of block rank()
//   all_to_all(out, in)        in and out hold size() blocks; out block i = rank i's in block rank()
//   broadcast(t, root)         every rank's t becomes root's t
//   scatter(out, in, root)     in (read on root only) holds size() blocks; out = root's block rank()
//   send(t, dst) / recv(t, src)   point to point, matched by (src, dst, tag) in call order
//   barrier()                  returns once every rank has arrived
//   split(color, key)          collective: ranks with equal color form a new communicator,
//                              ordered by (key, rank); a negative color joins no group (nullptr)
//
// Every collective returns a Work handle. wait() returns once the operation is complete and
// rethrows its failure. A backend may complete the operation before returning the handle (the
// simulated backend does) or later (NCCL); callers must wait() before reading outputs either way.
//
// The public methods check their arguments, record the call for CommDebugMode, and hand over to
// the backend's do_* implementation. Failures are CommError exceptions naming the collective,
// the group (its global ranks) and the ranks involved.
#include <chrono>
#include <cstdint>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/tensor/reduce_op.h"
#include "core/comm/timeout.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

enum class CollectiveKind {
  AllReduce,
  AllGather,
  ReduceScatter,
  AllToAll,
  Broadcast,
  Scatter,
  Send,
  Recv,
  Barrier,
};
// "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "scatter", "send",
// "recv", "barrier".
std::string_view collective_name(CollectiveKind kind);

// A failed collective: a mismatch between ranks, a timeout, an aborted group, a failed peer.
class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Ranks of a group called different collectives, or the same one with different arguments.
class CommMismatchError : public CommError {
 public:
  using CommError::CommError;
};
// Some ranks never arrived within the timeout.
class CommTimeoutError : public CommError {
 public:
  using CommError::CommError;
};

// Every collective's options carry an optional timeout; unset means the communicator's default.
// A timeout must be >= 0 (std::invalid_argument otherwise); Milliseconds::max() waits without a
// deadline.
struct AllReduceOptions {
  ReduceOp op = ReduceOp::Sum;
  std::optional<Milliseconds> timeout;
};
struct AllGatherOptions {
  std::optional<Milliseconds> timeout;
};
struct ReduceScatterOptions {
  ReduceOp op = ReduceOp::Sum;
  std::optional<Milliseconds> timeout;
};
struct AllToAllOptions {
  std::optional<Milliseconds> timeout;
};
struct BroadcastOptions {
  int root = 0;  // rank within this communicator
  std::optional<Milliseconds> timeout;
};
struct ScatterOptions {
  int root = 0;  // rank within this communicator
  std::optional<Milliseconds> timeout;
};
struct PointToPointOptions {
  int tag = 0;
  std::optional<Milliseconds> timeout;
};
struct BarrierOptions {
  std::optional<Milliseconds> timeout;
};

class Work {
 public:
  virtual ~Work() = default;
  virtual bool is_completed() const = 0;
  // Blocks until the operation completes (or `timeout` passes: CommTimeoutError) and rethrows
  // the operation's failure. Calling it again rethrows again. A negative timeout throws
  // std::invalid_argument (implementations call check_timeout("Work::wait", timeout) first).
  virtual void wait(std::optional<Milliseconds> timeout = std::nullopt) = 0;
};
using WorkPtr = std::shared_ptr<Work>;

// A Work that finished before it was returned, with or without an error.
class CompletedWork final : public Work {
 public:
  explicit CompletedWork(std::exception_ptr error = nullptr) : error_(std::move(error)) {}
  bool is_completed() const override { return true; }
  void wait(std::optional<Milliseconds> timeout = std::nullopt) override {
    check_timeout("Work::wait", timeout);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
};

class Communicator : public std::enable_shared_from_this<Communicator> {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The group's members as global (world) ranks, in group-rank order.
  virtual const std::vector<int>& global_ranks() const = 0;
  // Short name of the backend: "sim", "nccl".
  virtual std::string backend() const = 0;
  virtual Milliseconds default_timeout() const = 0;
  // "group [0, 2, 4]" — used in every error message.
  std::string describe() const;

  WorkPtr all_reduce(Tensor& tensor, const AllReduceOptions& opts = {});
  WorkPtr all_gather(Tensor& output, const Tensor& input, const AllGatherOptions& opts = {});
  WorkPtr reduce_scatter(Tensor& output, const Tensor& input,
                         const ReduceScatterOptions& opts = {});
  WorkPtr all_to_all(Tensor& output, const Tensor& input, const AllToAllOptions& opts = {});
  WorkPtr broadcast(Tensor& tensor, const BroadcastOptions& opts = {});
  WorkPtr scatter(Tensor& output, const Tensor& input, const ScatterOptions& opts = {});
  WorkPtr send(const Tensor& tensor, int dst, const PointToPointOptions& opts = {});
  WorkPtr recv(Tensor& tensor, int src, const PointToPointOptions& opts = {});
  WorkPtr barrier(const BarrierOptions& opts = {});
  std::shared_ptr<Communicator> split(int color, int key);

  // The communicator of this rank's part in `groups`, a partition of some of this
  // communicator's ranks (each inner list holds ranks of this communicator, in group order).
  // Collective over this communicator; cached by partition, so building the same mesh twice
  // splits once. Ranks in no group get nullptr.
  std::shared_ptr<Communicator> subgroup(const std::vector<std::vector<int>>& groups);

 protected:
  virtual WorkPtr do_all_reduce(Tensor& tensor, const AllReduceOptions& opts) = 0;
  virtual WorkPtr do_all_gather(Tensor& output, const Tensor& input,
                                const AllGatherOptions& opts) = 0;
  virtual WorkPtr do_reduce_scatter(Tensor& output, const Tensor& input,
                                    const ReduceScatterOptions& opts) = 0;
  virtual WorkPtr do_all_to_all(Tensor& output, const Tensor& input,
                                const AllToAllOptions& opts) = 0;
  virtual WorkPtr do_broadcast(Tensor& tensor, const BroadcastOptions& opts) = 0;
  virtual WorkPtr do_scatter(Tensor& output, const Tensor& input, const ScatterOptions& opts) = 0;
  virtual WorkPtr do_send(const Tensor& tensor, int dst, const PointToPointOptions& opts) = 0;
  virtual WorkPtr do_recv(Tensor& tensor, int src, const PointToPointOptions& opts) = 0;
  virtual WorkPtr do_barrier(const BarrierOptions& opts) = 0;
  virtual std::shared_ptr<Communicator> do_split(int color, int key) = 0;
  // subgroup's communicator for this rank: color and key are its group's index in `groups` and
  // its place there (-1 and 0 outside every group). By default split(color, key); a backend that
  // can build a group from the partition alone, which every rank knows, overrides it (the
  // shape-only communicator, whose ranks never exchange colors).
  virtual std::shared_ptr<Communicator> do_subgroup(const std::vector<std::vector<int>>& groups,
                                                    int color, int key);

 private:
  std::mutex subgroup_mutex_;
  std::map<std::vector<std::vector<int>>, std::shared_ptr<Communicator>> subgroups_;
};

}  // namespace tensorpar
