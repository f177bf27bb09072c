#include "sim/group.h"

#include <algorithm>
#include <sstream>
#include <thread>

#include "core/base/error.h"
#include "core/comm/timeout.h"

namespace tensorpar::sim {

namespace {

// Small-message path: a rank stages at most this many bytes per call (see sim_communicator.h).
constexpr std::size_t kSmallMessageBytes = 32 * 1024;
// Staging memory of one parity of a group, shared by its ranks: big groups stage less per rank.
constexpr std::size_t kStagingBudget = 512 * 1024;
constexpr std::size_t kMinStagingBytes = 1024;
// How long a rank failed by a peer's return waits for the other missing ranks to arrive or
// return before naming them (see throw_aborted).
constexpr Milliseconds kExitGrace{100};
// Bytes a rank may reduce on the staged all_reduce path (W times the message).
constexpr std::size_t kStagedAllReduceWork = 64 * 1024;

std::string join(const std::vector<int>& values) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << values[i];
  os << "]";
  return os.str();
}

// Waiting policy by load (measured on 2 cores: a 4-byte all_reduce takes ~1.5 us at W = 2 and
// ~16 us at W = 8). With a core per rank, spinning a few microseconds catches a peer that is
// about to arrive; with more ranks than cores, spinning only steals time from the ranks being
// waited for, so waiters yield almost at once and sleep in the kernel after 50 us.
WaitPolicy policy_for(int world_size) {
  using std::chrono::microseconds;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (static_cast<unsigned>(world_size) <= cores) return {microseconds(20), microseconds(50)};
  return {microseconds(1), microseconds(50)};
}

}  // namespace

std::string Descriptor::str() const {
  std::ostringstream os;
  os << name() << "(";
  if (split || kind == CollectiveKind::Barrier) return os.str() + ")";
  if (op) os << reduce_op_name(*op) << ", ";
  os << dtype_name(dtype) << ", " << count << (count == 1 ? " element" : " elements");
  if (root) os << ", root " << *root;
  os << ")";
  return os.str();
}

// ---- WorldState ----

WorldState::WorldState(int size, Milliseconds timeout, bool detect_deadlocks)
    : size_(size),
      timeout_(timeout),
      policy_(policy_for(size)),
      exited_(std::make_unique<std::atomic<bool>[]>(size)),
      waits_(*this, size, detect_deadlocks) {}

std::shared_ptr<GroupState> WorldState::create_group(std::vector<int> global_ranks) {
  auto group = std::make_shared<GroupState>(shared_from_this(), global_ranks);
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(groups_, [](const std::weak_ptr<GroupState>& g) { return g.expired(); });
  groups_.push_back(group);
  if (failed()) group->abort(GroupState::AbortKind::Failure, failure_);
  for (int r : group->ranks()) {
    if (exited(r)) group->abort(GroupState::AbortKind::Exit, cat("rank ", r, " returned"));
  }
  return group;
}

void WorldState::fail(int rank, const std::string& what) {
  std::vector<std::shared_ptr<GroupState>> groups;
  std::string reason;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failed()) return;
    failure_ = cat("rank ", rank, " failed: ", what);
    reason = failure_;
    failed_.store(true, std::memory_order_release);
    for (auto& weak : groups_) {
      if (auto g = weak.lock()) groups.push_back(std::move(g));
    }
  }
  for (auto& g : groups) g->abort(GroupState::AbortKind::Failure, reason);
}

std::string WorldState::failure() const { return failed() ? failure_ : std::string(); }

void WorldState::rank_exited(int rank) {
  std::vector<std::shared_ptr<GroupState>> groups;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    exited_[rank].store(true, std::memory_order_release);
    for (auto& weak : groups_) {
      auto g = weak.lock();
      if (g && std::find(g->ranks().begin(), g->ranks().end(), rank) != g->ranks().end()) {
        groups.push_back(std::move(g));
      }
    }
  }
  for (auto& g : groups) {
    // Barriers this rank took part in are complete; any later one can never be.
    g->abort(GroupState::AbortKind::Exit, cat("rank ", rank, " returned"));
    g->wake_receivers();
  }
}

void WorldState::check_live(std::string_view what, std::string_view where) const {
  if (!ended_.load(std::memory_order_acquire)) return;
  throw CommError(cat(what, " in ", where,
                      ": this communicator belongs to a sim::run that has ended; a DeviceMesh and "
                      "its DTensors live only as long as the run that made them, so make them "
                      "inside the run that uses them"));
}

// ---- GroupState ----

std::size_t GroupState::staging_capacity_for(int size) {
  std::size_t per_rank = kStagingBudget / static_cast<std::size_t>(size);
  per_rank = std::clamp(per_rank, kMinStagingBytes, kSmallMessageBytes);
  return per_rank / 64 * 64;
}

bool GroupState::stage_all_reduce(std::size_t bytes) const {
  return bytes <= staging_capacity_ && bytes * ranks_.size() <= kStagedAllReduceWork;
}

GroupState::GroupState(std::shared_ptr<WorldState> world, std::vector<int> global_ranks)
    : world_(std::move(world)),
      ranks_(std::move(global_ranks)),
      description_("group " + join(ranks_)),
      barrier_(static_cast<int>(ranks_.size())),
      slots_(std::make_unique<Slot[]>(2 * ranks_.size())),
      staging_capacity_(staging_capacity_for(static_cast<int>(ranks_.size()))),
      // Uninitialised on purpose: pages are touched only by ranks that stage.
      staging_(
          static_cast<std::byte*>(std::aligned_alloc(64, 2 * ranks_.size() * staging_capacity_))),
      arrived_(std::make_unique<std::atomic<std::uint64_t>[]>(ranks_.size())) {}

void GroupState::arrive(int rank, std::uint64_t epoch, const Descriptor& desc,
                        Milliseconds timeout) {
  arrived_[rank].store(epoch, std::memory_order_relaxed);
  const auto deadline = deadline_after(timeout);
  std::uint32_t generation = 0;
  FutexBarrier::Outcome outcome;
  {
    // Registered with the wait graph only if this rank goes to sleep.
    WaitRegistration wait(world_->waits(), ranks_[rank], *this, epoch, desc);
    outcome = barrier_.arrive_and_wait(true, deadline, world_->wait_policy(), &generation, &wait);
    if (outcome == FutexBarrier::Outcome::Passed) return;
    if (auto deadlock = wait.end()) throw DeadlockError(*deadlock);
  }
  if (outcome == FutexBarrier::Outcome::Aborted) throw_aborted(desc, epoch);
  // Timed out: abort the group unless the phase completed meanwhile, under the mutex so that
  // waiters woken by the abort find the reason already written.
  std::unique_lock<std::mutex> lock(mutex_);
  auto result = barrier_.abort_if_generation(generation);
  if (result == FutexBarrier::AbortResult::Passed) return;
  if (result == FutexBarrier::AbortResult::AlreadyAborted) {
    lock.unlock();
    throw_aborted(desc, epoch);
  }
  abort_reason_ = cat(desc.name(), " timed out after ", timeout.count(), " ms in ", description_,
                      ": ranks ", rank_list(missing_ranks(epoch, false)), " never arrived");
  abort_kind_ = AbortKind::Timeout;
  p2p_aborted_.store(true, std::memory_order_release);
  const std::string message = abort_reason_;
  lock.unlock();
  mail_cv_.notify_all();
  throw CommTimeoutError(message);
}

void GroupState::arrive_to_complete(int rank, std::uint64_t epoch) {
  arrived_[rank].store(epoch, std::memory_order_relaxed);
  barrier_.arrive_and_wait(false, std::nullopt, world_->wait_policy(), nullptr);
}

void GroupState::throw_aborted(const Descriptor& desc, std::uint64_t epoch) {
  if (world_->failed()) {
    throw CommAbortedError(cat(desc.name(), " aborted in ", description_, ": ", world_->failure()));
  }
  std::unique_lock<std::mutex> lock(mutex_);
  const std::string reason = abort_reason_;
  const AbortKind kind = abort_kind_;
  lock.unlock();
  if (kind == AbortKind::Timeout) throw CommTimeoutError(reason);
  if (kind == AbortKind::Deadlock) throw DeadlockError(reason);
  if (kind == AbortKind::Exit) {
    // Every rank that has not arrived is named, and those that returned are said to have. Ranks
    // still running get a short grace to arrive or return first, so that the message does not
    // depend on which of several skipping ranks happened to return first.
    const auto settled = [&] {
      for (int r : missing_ranks(epoch, false)) {
        if (!world_->exited(ranks_[r])) return false;
      }
      return true;
    };
    const auto grace_end = Clock::now() + kExitGrace;
    while (!settled() && Clock::now() < grace_end) std::this_thread::sleep_for(Milliseconds(1));
    const auto missing = missing_ranks(epoch, false);
    const auto returned = missing_ranks(epoch, true);
    if (!returned.empty()) {
      std::string why = "they returned from their function";
      if (returned.size() == 1 && missing.size() > 1) {
        why = cat("rank ", ranks_[returned[0]], " returned from its function");
      } else if (returned.size() < missing.size()) {
        why = cat("ranks ", rank_list(returned), " returned from their function");
      }
      throw CommTimeoutError(cat(desc.name(), " can never complete in ", description_, ": ranks ",
                                 rank_list(missing), " never arrived (", why, ")"));
    }
  }
  throw CommAbortedError(cat(desc.name(), " aborted in ", description_, ": ", reason));
}

std::vector<int> GroupState::missing_ranks(std::uint64_t epoch, bool exited_only) const {
  std::vector<int> missing;
  for (int r = 0; r < size(); ++r) {
    if (arrived(r, epoch)) continue;
    if (exited_only && !world_->exited(ranks_[r])) continue;
    missing.push_back(r);
  }
  return missing;
}

std::string GroupState::rank_list(const std::vector<int>& group_ranks) const {
  std::vector<int> global;
  for (int r : group_ranks) global.push_back(ranks_[r]);
  return join(global);
}

void GroupState::abort(AbortKind kind, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (barrier_.aborted()) return;
    abort_reason_ = reason;
    abort_kind_ = kind;
    if (kind != AbortKind::Exit) p2p_aborted_.store(true, std::memory_order_release);
    barrier_.abort();
  }
  mail_cv_.notify_all();
}

void GroupState::post(int src, int dst, int tag, Tensor message) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    mailboxes_[{src, dst, tag}].push_back(std::move(message));
    world_->waits().posted(*this, src, dst, tag);
  }
  mail_cv_.notify_all();
}

void GroupState::wake_receivers() {
  { std::lock_guard<std::mutex> lock(mutex_); }
  mail_cv_.notify_all();
}

Tensor GroupState::take(int src, int dst, int tag, Milliseconds timeout) {
  const auto deadline = deadline_after(timeout);
  const std::string from = cat("rank ", ranks_[src], " (tag ", tag, ")");
  WaitRegistration wait(world_->waits(), ranks_[dst], *this, src, tag);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    auto it = mailboxes_.find({src, dst, tag});
    if (it != mailboxes_.end() && !it->second.empty()) {
      Tensor message = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) mailboxes_.erase(it);
      return message;
    }
    if (wait.registered()) {
      if (auto deadlock = world_->waits().deadlock_of(ranks_[dst])) throw DeadlockError(*deadlock);
    }
    if (world_->failed()) {
      throw CommAbortedError(
          cat("recv from ", from, " aborted in ", description_, ": ", world_->failure()));
    }
    if (barrier_.aborted() && abort_kind_ == AbortKind::Deadlock) {
      throw DeadlockError(abort_reason_);
    }
    if (barrier_.aborted() && abort_kind_ != AbortKind::Exit) {
      throw CommAbortedError(
          cat("recv from ", from, " aborted in ", description_, ": ", abort_reason_));
    }
    if (world_->exited(ranks_[src])) {
      throw CommTimeoutError(cat("recv can never complete in ", description_, ": ", from,
                                 " returned from its function without sending"));
    }
    if (!wait.registered()) {
      // Registered under this group's lock with the mailbox empty, so a later post unblocks it
      // in the graph. A deadlock found is broken up without the lock.
      if (auto breakup = wait.begin()) {
        lock.unlock();
        breakup->run();
        lock.lock();
        continue;
      }
    }
    if (mail_cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
        Clock::now() >= deadline) {
      auto again = mailboxes_.find({src, dst, tag});
      if (again != mailboxes_.end() && !again->second.empty()) continue;
      throw CommTimeoutError(cat("recv timed out after ", timeout.count(), " ms in ", description_,
                                 ": ", from, " never sent"));
    }
  }
}

}  // namespace tensorpar::sim
