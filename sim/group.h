#pragma once
// Shared state of a simulated run: the world (failure, exited ranks, registry of groups) and one
// GroupState per communicator group, shared by the SimCommunicators of its member ranks.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/comm/communicator.h"
#include "sim/rendezvous.h"
#include "sim/wait_graph.h"

namespace tensorpar::sim {

class GroupState;

// A collective failed because its group was aborted by something else (another rank's failure or
// timeout). run_ranks reports the root cause, never such a consequence.
class CommAbortedError : public CommError {
 public:
  using CommError::CommError;
};

// What one rank asked for: ranks of a group must agree on all of it.
//   all_reduce(sum, float32, 12 elements)     broadcast(float64, 3 elements, root 1)
struct Descriptor {
  CollectiveKind kind = CollectiveKind::Barrier;
  bool split = false;  // split() is a collective too, though not a CollectiveKind
  DType dtype = DType::Float32;
  std::int64_t count = 0;  // nccl-tests' "count": elements per rank of the collective
  std::optional<ReduceOp> op;
  std::optional<int> root;

  bool operator==(const Descriptor&) const = default;
  std::string_view name() const { return split ? "split" : collective_name(kind); }
  std::string str() const;
};

// What one rank publishes for one call; written before the first phase, read by peers after it.
struct alignas(64) Slot {
  Descriptor desc;
  const std::byte* src = nullptr;  // the rank's input buffer (zero-copy pulls)
  std::byte* dst = nullptr;        // the rank's output buffer (all_reduce writes results here)
  int color = 0;                   // split
  int key = 0;
  std::shared_ptr<GroupState> child;  // split: the group created by its leader
};

class WorldState : public std::enable_shared_from_this<WorldState> {
 public:
  WorldState(int size, Milliseconds timeout, bool detect_deadlocks);

  int size() const { return size_; }
  Milliseconds timeout() const { return timeout_; }
  const WaitPolicy& wait_policy() const { return policy_; }

  // A new group of these global ranks, registered for aborts (and born aborted when the world
  // already failed or a member already returned).
  std::shared_ptr<GroupState> create_group(std::vector<int> global_ranks);

  // Records the first failure ("rank 2 failed: boom") and aborts every group.
  void fail(int rank, const std::string& what);
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string failure() const;

  // `rank` returned from its function: collectives of its groups can never complete.
  void rank_exited(int rank);
  bool exited(int rank) const { return exited_[rank].load(std::memory_order_acquire); }

  // The run is over (every rank thread joined); communicators kept past it, such as those of a
  // DeviceMesh a DTensor holds, fail at once when used (check_live).
  void end() { ended_.store(true, std::memory_order_release); }
  // Throws CommError "<what> in <where>: this communicator belongs to a sim::run that has
  // ended; ..." once the run is over.
  void check_live(std::string_view what, std::string_view where) const;

  // What sleeping ranks wait for (wait_graph.h).
  WaitGraph& waits() { return waits_; }

 private:
  const int size_;
  const Milliseconds timeout_;
  WaitPolicy policy_;
  std::unique_ptr<std::atomic<bool>[]> exited_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> ended_{false};
  mutable std::mutex mutex_;
  std::string failure_;  // written once under mutex_ before failed_ is set; read-only after
  std::vector<std::weak_ptr<GroupState>> groups_;
  WaitGraph waits_;
};

class GroupState : public std::enable_shared_from_this<GroupState> {
 public:
  // Bytes a rank may stage per call for the one-phase small-message path.
  static std::size_t staging_capacity_for(int size);

  GroupState(std::shared_ptr<WorldState> world, std::vector<int> global_ranks);

  int size() const { return static_cast<int>(ranks_.size()); }
  const std::vector<int>& ranks() const { return ranks_; }
  const std::string& description() const { return description_; }
  WorldState& world() { return *world_; }

  Slot& slot(int parity, int rank) { return slots_[parity * ranks_.size() + rank]; }
  std::byte* staging(int parity, int rank) {
    return staging_.get() + (parity * ranks_.size() + rank) * staging_capacity_;
  }
  std::size_t staging_capacity() const { return staging_capacity_; }
  // Whether an all_reduce of `bytes` per rank takes the staged path: there every rank reduces
  // the whole message from all W staging areas (W times the work of its own block), which pays
  // off only while W * bytes stays small.
  bool stage_all_reduce(std::size_t bytes) const;

  // Phase `epoch` (1, 2, ... per rank) for group rank `rank` of a call described by `desc`.
  // Throws CommTimeoutError naming the ranks that never arrived, CommAbortedError when another
  // failure aborted the group.
  void arrive(int rank, std::uint64_t epoch, const Descriptor& desc, Milliseconds timeout);
  // A completion phase: cannot fail (see rendezvous.h).
  void arrive_to_complete(int rank, std::uint64_t epoch);
  // Whether group rank `rank` has arrived at phase `epoch`. Relaxed: readers either only report
  // (a timeout names the missing ranks), or are the wait graph, which asks only about ranks that
  // registered a wait under its mutex after storing their arrival, so the mutex orders the two.
  bool arrived(int rank, std::uint64_t epoch) const {
    return arrived_[rank].load(std::memory_order_relaxed) >= epoch;
  }

  // Why a group stopped working. After a timeout every later call of the group fails with the
  // same CommTimeoutError; after an exit (a member returned), collectives fail but point-to-point
  // between live ranks carries on; after a failure everything fails with CommAbortedError; after
  // a deadlock (wait_graph.h) everything fails with the same DeadlockError.
  enum class AbortKind { Failure, Timeout, Exit, Deadlock };
  // First reason wins; wakes every waiter.
  void abort(AbortKind kind, const std::string& reason);
  bool aborted() const { return barrier_.aborted(); }
  // Aborted for a reason that fails point-to-point too (anything but an exit).
  bool p2p_aborted() const { return p2p_aborted_.load(std::memory_order_acquire); }

  // Point to point: a mailbox per (src, dst, tag) in group ranks, FIFO.
  void post(int src, int dst, int tag, Tensor message);
  // Waits for the next message; throws CommTimeoutError after `timeout` or when `src` returned
  // without sending, CommAbortedError when the group failed.
  Tensor take(int src, int dst, int tag, Milliseconds timeout);
  void wake_receivers();

 private:
  [[noreturn]] void throw_aborted(const Descriptor& desc, std::uint64_t epoch);
  std::vector<int> missing_ranks(std::uint64_t epoch, bool exited_only) const;
  std::string rank_list(const std::vector<int>& group_ranks) const;

  std::shared_ptr<WorldState> world_;
  std::vector<int> ranks_;
  std::string description_;
  FutexBarrier barrier_;
  std::unique_ptr<Slot[]> slots_;  // [parity][rank]
  std::size_t staging_capacity_;
  struct FreeDeleter {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, FreeDeleter> staging_;  // [parity][rank][staging_capacity_]
  // Per rank: the last phase it arrived at (to name the ranks that never did).
  std::unique_ptr<std::atomic<std::uint64_t>[]> arrived_;

  mutable std::mutex mutex_;
  std::condition_variable mail_cv_;
  std::string abort_reason_;
  AbortKind abort_kind_ = AbortKind::Failure;
  std::atomic<bool> p2p_aborted_{false};
  std::map<std::tuple<int, int, int>, std::deque<Tensor>> mailboxes_;
};

}  // namespace tensorpar::sim
