#pragma once
// CommDebugMode: a scope that records every collective the current rank issues.
//
//   CommDebugMode mode;
//   dt.redistribute(mesh, {Replicate()});
//   EXPECT_EQ(mode.count(CollectiveKind::AllGather), 1);
//
// Modes belong to the rank context (core/base/rank_context.h: a sim rank's thread, a process, or
// a helper thread handed the rank's context) and nest: every active mode of the context records
// each call. Bytes follow nccl-tests' "size": the full buffer of all_reduce, broadcast and
// all_to_all, the gathered output of all_gather, the input of reduce_scatter and scatter, the
// message of send/recv, 0 for a barrier.
//
// Each record also carries the phase it was issued in (forward unless a CommPhaseScope says
// otherwise: autograd's backward() marks its collectives Backward, optimizer steps Optimizer)
// and the module being called (the innermost CommModuleScope; modules labelled by
// parallelize_module open one around their forward, and backward runs each autograd node under
// the module that created it):
//
//   mode.counts_by_name(CommPhase::Backward);   // {"all_reduce": 9}
//   mode.counts_by_module();                    // {"layers.0.attention.wo": {"all_reduce": 1}}
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/comm/communicator.h"

namespace tensorpar {

enum class CommPhase : std::uint8_t { Forward, Backward, Optimizer };
// "forward", "backward", "optimizer".
const char* phase_name(CommPhase phase);

struct CollectiveRecord {
  CollectiveKind kind;
  std::int64_t bytes = 0;
  std::vector<int> group;  // global ranks
  ReduceOp op = ReduceOp::Sum;  // meaningful for all_reduce and reduce_scatter
  CommPhase phase = CommPhase::Forward;  // filled in by CommDebugMode::record
  std::string module;                    // the module's FQN, "" outside any labelled module
};

// Marks the collectives issued in this rank context during its lifetime with `phase` (nests).
class CommPhaseScope {
 public:
  explicit CommPhaseScope(CommPhase phase);
  ~CommPhaseScope();
  CommPhaseScope(const CommPhaseScope&) = delete;
  CommPhaseScope& operator=(const CommPhaseScope&) = delete;

 private:
  CommPhase previous_;
};
CommPhase current_comm_phase();

// Attributes the collectives issued in this rank context during its lifetime to the module `fqn`
// (nests; the innermost wins). `fqn` must outlive the scope.
class CommModuleScope {
 public:
  explicit CommModuleScope(const std::string& fqn);
  ~CommModuleScope();
  CommModuleScope(const CommModuleScope&) = delete;
  CommModuleScope& operator=(const CommModuleScope&) = delete;

 private:
  const std::string* previous_;
};
// The innermost CommModuleScope's FQN in this rank context, or null.
const std::string* current_comm_module();

class CommDebugMode {
 public:
  CommDebugMode();
  ~CommDebugMode();
  CommDebugMode(const CommDebugMode&) = delete;
  CommDebugMode& operator=(const CommDebugMode&) = delete;

  // Called by Communicator for every collective issued in this rank context.
  static void record(const CollectiveRecord& record);
  // Whether any mode is active in this rank context.
  static bool active();

  const std::vector<CollectiveRecord>& records() const { return records_; }
  std::int64_t count(CollectiveKind kind) const;
  std::int64_t bytes(CollectiveKind kind) const;
  std::int64_t total_count() const { return static_cast<std::int64_t>(records_.size()); }
  std::int64_t total_bytes() const;
  // Count per collective kind, only kinds that occurred.
  std::map<CollectiveKind, std::int64_t> counts() const;
  // Same keyed by name ("all_gather" -> 1), handy for comparing with expected tables.
  std::map<std::string, std::int64_t> counts_by_name() const;
  // The same restricted to one phase ({} when nothing was issued in it).
  std::map<std::string, std::int64_t> counts_by_name(CommPhase phase) const;
  // Counts and bytes of one phase.
  std::int64_t count(CommPhase phase) const;
  std::int64_t bytes(CommPhase phase) const;
  // Per module FQN ("" for collectives outside labelled modules), count per collective name.
  std::map<std::string, std::map<std::string, std::int64_t>> counts_by_module() const;
  void reset() { records_.clear(); }
  // A table: one row per collective kind with count and bytes.
  std::string table() const;

 private:
  std::vector<CollectiveRecord> records_;
  CommDebugMode* previous_ = nullptr;
};

// A table of per-rank counts: rows are collective kinds, columns ranks (count / bytes).
std::string format_rank_table(const std::vector<std::map<CollectiveKind, std::int64_t>>& counts,
                              const std::vector<std::map<CollectiveKind, std::int64_t>>& bytes);

}  // namespace tensorpar
