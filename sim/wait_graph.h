#pragma once
// WaitGraph: names a deadlock of a simulated run within milliseconds instead of after the
// collective timeout.
//
// Every rank that is about to sleep in a sim operation records what it waits for:
//   a collective (or split) of group G at phase e waits on every member of G that has not
//   arrived at phase e;
//   a recv from rank s with tag t in group G waits on s, until a message (s, t) is posted.
// A rank that is running (computing, sleeping in user code, waiting on anything but the sim) or
// has returned waits on nothing, and nobody can be sure it will not act: edges into it are dead
// ends. Ranks block in the AND sense (a collective needs every missing member), so a cycle of
// sleeping ranks is a deadlock: no rank of it can arrive or send until another one of it does.
// A new cycle can only close when a rank starts waiting, so each registration searches for a
// cycle through the registering rank. Registration happens only once a waiter stops spinning
// and goes to sleep in the kernel, so collectives that complete quickly never touch the graph.
//
//   rank 0: recv(from 1)        rank 1: recv(from 0)
//   -> "deadlock: rank 0 waits in recv from rank 1 (tag 0) in group [0, 1]; rank 1 waits in
//       recv from rank 0 (tag 0) in group [0, 1]"
//
// Every rank of the cycle fails with DeadlockError carrying that message; for a collective the
// group is aborted too, so its other waiting members fail the same way. DeadlockError is a
// CommTimeoutError: code that handles a timeout handles a deadlock, only earlier.
//
// Waits with a finite timeout count as blocked: the operation cannot complete either way.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "sim/rendezvous.h"

namespace tensorpar::sim {

class GroupState;
class WorldState;
struct Descriptor;

// A cycle of ranks each waiting on the next; thrown on every rank of the cycle.
class DeadlockError : public CommTimeoutError {
 public:
  using CommTimeoutError::CommTimeoutError;
};

// What one sleeping rank waits for.
struct PendingWait {
  enum class Kind { None, Collective, Recv };
  Kind kind = Kind::None;
  std::shared_ptr<GroupState> group;
  std::uint64_t epoch = 0;       // collective: the phase
  std::string what;              // collective: "barrier()", "all_reduce(sum, float32, 4 elements)"
  int src = -1;                  // recv: the sender's group rank
  int tag = 0;                   // recv
};

class WaitGraph {
 public:
  WaitGraph(const WorldState& world, int size, bool enabled);

  bool enabled() const { return enabled_; }

  // What the caller must do, outside any lock of a group, once a deadlock was found: abort the
  // groups that cycle members wait in collectively, wake the receivers of the others.
  struct Breakup {
    std::string message;
    std::vector<std::shared_ptr<GroupState>> abort;
    std::vector<std::shared_ptr<GroupState>> wake;
    void run() const;
  };

  // `rank` (global) starts to sleep in `wait`. Returns the breakup of a deadlock this wait
  // closes, if any.
  std::optional<Breakup> begin(int rank, PendingWait wait);
  // `rank` stopped waiting; returns the deadlock message it was failed with, if any.
  std::optional<std::string> end(int rank);
  // The deadlock message `rank` was failed with, if any (it keeps waiting registered).
  std::optional<std::string> deadlock_of(int rank) const;
  // A message (src -> dst, tag) was posted in `group` (group ranks): dst's recv of it, if that
  // is what dst sleeps in, is no longer blocked.
  void posted(const GroupState& group, int src, int dst, int tag);

 private:
  struct Entry {
    PendingWait wait;
    std::optional<std::string> deadlock;
  };
  // Whether `rank` sleeps in a registered wait (and was not already failed by a deadlock).
  bool sleeping(int rank) const;
  // The sleeping ranks `rank` waits on now (global ranks); empty when it is not sleeping.
  std::vector<int> waits_on(int rank) const;
  std::optional<std::vector<int>> cycle_through(int rank) const;
  std::string describe(const std::vector<int>& cycle) const;

  const WorldState& world_;
  const bool enabled_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // per global rank
};

// Registers the calling rank's wait with the world's graph when it goes to sleep (a
// SleepObserver for collectives; begin() directly for recv) and ends it on destruction. Nothing
// is built before that: a collective that completes while spinning costs nothing here.
class WaitRegistration final : public SleepObserver {
 public:
  // A collective (or split) of `group` at phase `epoch`; `desc` must outlive the registration.
  WaitRegistration(WaitGraph& graph, int rank, GroupState& group, std::uint64_t epoch,
                   const Descriptor& desc)
      : graph_(graph), rank_(rank), group_(group), epoch_(epoch), desc_(&desc) {}
  // A recv from group rank `src` with `tag` in `group`.
  WaitRegistration(WaitGraph& graph, int rank, GroupState& group, int src, int tag)
      : graph_(graph), rank_(rank), group_(group), src_(src), tag_(tag) {}
  ~WaitRegistration() { end(); }
  WaitRegistration(const WaitRegistration&) = delete;
  WaitRegistration& operator=(const WaitRegistration&) = delete;

  void before_sleep() override;
  // Registers (once); the breakup of a deadlock found, for the caller to run unlocked.
  std::optional<WaitGraph::Breakup> begin();
  bool registered() const { return registered_; }
  // Ends the registration; the deadlock message this rank was failed with, if any.
  std::optional<std::string> end();

 private:
  WaitGraph& graph_;
  int rank_;
  GroupState& group_;
  std::uint64_t epoch_ = 0;
  const Descriptor* desc_ = nullptr;  // null for a recv
  int src_ = -1;
  int tag_ = 0;
  bool registered_ = false;
  std::optional<std::string> deadlock_;
};

}  // namespace tensorpar::sim
