#include "sim/wait_graph.h"

#include <algorithm>

#include "core/base/error.h"
#include "sim/group.h"

namespace tensorpar::sim {

WaitGraph::WaitGraph(const WorldState& world, int size, bool enabled)
    : world_(world), enabled_(enabled), entries_(enabled ? size : 0) {}

void WaitGraph::Breakup::run() const {
  for (const auto& g : abort) g->abort(GroupState::AbortKind::Deadlock, message);
  for (const auto& g : wake) g->wake_receivers();
}

bool WaitGraph::sleeping(int rank) const {
  return entries_[rank].wait.kind != PendingWait::Kind::None && !entries_[rank].deadlock;
}

// Only ranks that sleep can be part of a cycle, so only those are returned; checking that first
// keeps the scan of a big group to plain reads (under ThreadSanitizer, each atomic acquire of
// 1024 ranks costs a vector-clock join).
std::vector<int> WaitGraph::waits_on(int rank) const {
  const PendingWait& w = entries_[rank].wait;
  std::vector<int> on;
  if (!sleeping(rank)) return on;
  const GroupState& g = *w.group;
  if (w.kind == PendingWait::Kind::Collective) {
    // An aborted group wakes its waiters: they are about to leave.
    if (g.aborted()) return on;
    for (int m = 0; m < g.size(); ++m) {
      const int member = g.ranks()[m];
      if (member != rank && sleeping(member) && !g.arrived(m, w.epoch)) on.push_back(member);
    }
    return on;
  }
  const int src = g.ranks()[w.src];
  if (sleeping(src) && !g.p2p_aborted()) on.push_back(src);
  return on;
}

// A path rank -> ... -> rank through sleeping ranks (depth first, each rank expanded once).
std::optional<std::vector<int>> WaitGraph::cycle_through(int rank) const {
  std::vector<int> parent(entries_.size(), -1);
  std::vector<bool> seen(entries_.size(), false);
  std::vector<int> stack = {rank};
  seen[rank] = true;
  while (!stack.empty()) {
    const int r = stack.back();
    stack.pop_back();
    for (int next : waits_on(r)) {
      if (next == rank) {
        std::vector<int> cycle;
        for (int at = r; at != -1; at = parent[at]) cycle.push_back(at);
        std::reverse(cycle.begin(), cycle.end());
        return cycle;
      }
      if (seen[next]) continue;
      seen[next] = true;
      parent[next] = r;
      stack.push_back(next);
    }
  }
  return std::nullopt;
}

//   rank 1 waits in barrier() in group [1, 3] for rank 3
//   rank 0 waits in recv from rank 1 (tag 0) in group [0, 1]
std::string WaitGraph::describe(const std::vector<int>& cycle) const {
  // From the lowest rank on, so that every rank of the cycle reports the same text.
  std::vector<int> order = cycle;
  std::rotate(order.begin(), std::min_element(order.begin(), order.end()), order.end());
  std::string text = "deadlock: ";
  for (std::size_t i = 0; i < order.size(); ++i) {
    const PendingWait& w = entries_[order[i]].wait;
    const int next = order[(i + 1) % order.size()];
    text += i ? "; " : "";
    if (w.kind == PendingWait::Kind::Collective) {
      text += cat("rank ", order[i], " waits in ", w.what, " in ", w.group->description(),
                  " for rank ", next);
    } else {
      text += cat("rank ", order[i], " waits in recv from rank ", next, " (tag ", w.tag, ") in ",
                  w.group->description());
    }
  }
  return text;
}

std::optional<WaitGraph::Breakup> WaitGraph::begin(int rank, PendingWait wait) {
  if (!enabled_) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  entries_[rank] = Entry{std::move(wait), std::nullopt};
  if (world_.failed()) return std::nullopt;
  const auto cycle = cycle_through(rank);
  if (!cycle) return std::nullopt;
  Breakup breakup;
  breakup.message = describe(*cycle);
  for (int r : *cycle) {
    Entry& e = entries_[r];
    e.deadlock = breakup.message;
    auto& to = e.wait.kind == PendingWait::Kind::Collective ? breakup.abort : breakup.wake;
    if (std::find(to.begin(), to.end(), e.wait.group) == to.end()) to.push_back(e.wait.group);
  }
  return breakup;
}

std::optional<std::string> WaitGraph::end(int rank) {
  if (!enabled_) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  Entry done = std::move(entries_[rank]);
  entries_[rank] = Entry{};
  return done.deadlock;
}

std::optional<std::string> WaitGraph::deadlock_of(int rank) const {
  if (!enabled_) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_[rank].deadlock;
}

void WaitGraph::posted(const GroupState& group, int src, int dst, int tag) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  PendingWait& w = entries_[group.ranks()[dst]].wait;
  if (w.kind == PendingWait::Kind::Recv && w.group.get() == &group && w.src == src &&
      w.tag == tag) {
    w.kind = PendingWait::Kind::None;
  }
}

void WaitRegistration::before_sleep() {
  if (auto breakup = begin()) breakup->run();
}

std::optional<WaitGraph::Breakup> WaitRegistration::begin() {
  if (registered_ || !graph_.enabled()) return std::nullopt;
  registered_ = true;
  PendingWait wait;
  wait.group = group_.shared_from_this();
  if (desc_) {
    wait.kind = PendingWait::Kind::Collective;
    wait.epoch = epoch_;
    wait.what = desc_->str();
  } else {
    wait.kind = PendingWait::Kind::Recv;
    wait.src = src_;
    wait.tag = tag_;
  }
  return graph_.begin(rank_, std::move(wait));
}

std::optional<std::string> WaitRegistration::end() {
  if (registered_) {
    registered_ = false;
    deadlock_ = graph_.end(rank_);
  }
  return deadlock_;
}

}  // namespace tensorpar::sim
