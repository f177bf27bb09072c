#include "core/comm/comm_debug_mode.h"

#include <algorithm>
#include <iomanip>
#include <set>
#include <sstream>

#include "core/base/rank_context.h"

namespace tensorpar {

namespace {
struct CommScopes {
  CommDebugMode* innermost = nullptr;  // each mode links to the one it shadows
  CommPhase phase = CommPhase::Forward;
  const std::string* module = nullptr;
};
constexpr RankContext::Slot<CommScopes> kCommScopes{RankSlot::CommScopes};

CommScopes& scopes() { return RankContext::current().get(kCommScopes); }
}  // namespace

const char* phase_name(CommPhase phase) {
  switch (phase) {
    case CommPhase::Forward: return "forward";
    case CommPhase::Backward: return "backward";
    case CommPhase::Optimizer: return "optimizer";
  }
  return "?";
}

CommPhaseScope::CommPhaseScope(CommPhase phase) : previous_(scopes().phase) {
  scopes().phase = phase;
}
CommPhaseScope::~CommPhaseScope() { scopes().phase = previous_; }
CommPhase current_comm_phase() { return scopes().phase; }

CommModuleScope::CommModuleScope(const std::string& fqn) : previous_(scopes().module) {
  scopes().module = &fqn;
}
CommModuleScope::~CommModuleScope() { scopes().module = previous_; }
const std::string* current_comm_module() { return scopes().module; }

CommDebugMode::CommDebugMode() : previous_(scopes().innermost) { scopes().innermost = this; }

CommDebugMode::~CommDebugMode() { scopes().innermost = previous_; }

void CommDebugMode::record(const CollectiveRecord& record) {
  const CommScopes& current = scopes();
  CollectiveRecord tagged = record;
  tagged.phase = current.phase;
  if (current.module != nullptr) tagged.module = *current.module;
  for (CommDebugMode* mode = current.innermost; mode != nullptr; mode = mode->previous_) {
    mode->records_.push_back(tagged);
  }
}

bool CommDebugMode::active() { return scopes().innermost != nullptr; }

std::int64_t CommDebugMode::count(CollectiveKind kind) const {
  return std::count_if(records_.begin(), records_.end(),
                       [&](const CollectiveRecord& r) { return r.kind == kind; });
}

std::int64_t CommDebugMode::bytes(CollectiveKind kind) const {
  std::int64_t total = 0;
  for (const auto& r : records_) {
    if (r.kind == kind) total += r.bytes;
  }
  return total;
}

std::int64_t CommDebugMode::total_bytes() const {
  std::int64_t total = 0;
  for (const auto& r : records_) total += r.bytes;
  return total;
}

std::map<CollectiveKind, std::int64_t> CommDebugMode::counts() const {
  std::map<CollectiveKind, std::int64_t> result;
  for (const auto& r : records_) ++result[r.kind];
  return result;
}

std::map<std::string, std::int64_t> CommDebugMode::counts_by_name() const {
  std::map<std::string, std::int64_t> result;
  for (const auto& r : records_) ++result[std::string(collective_name(r.kind))];
  return result;
}

std::map<std::string, std::int64_t> CommDebugMode::counts_by_name(CommPhase phase) const {
  std::map<std::string, std::int64_t> result;
  for (const auto& r : records_) {
    if (r.phase == phase) ++result[std::string(collective_name(r.kind))];
  }
  return result;
}

std::int64_t CommDebugMode::count(CommPhase phase) const {
  return std::count_if(records_.begin(), records_.end(),
                       [&](const CollectiveRecord& r) { return r.phase == phase; });
}

std::int64_t CommDebugMode::bytes(CommPhase phase) const {
  std::int64_t total = 0;
  for (const auto& r : records_) {
    if (r.phase == phase) total += r.bytes;
  }
  return total;
}

std::map<std::string, std::map<std::string, std::int64_t>> CommDebugMode::counts_by_module()
    const {
  std::map<std::string, std::map<std::string, std::int64_t>> result;
  for (const auto& r : records_) ++result[r.module][std::string(collective_name(r.kind))];
  return result;
}

//   collective     | count |  bytes
//   all_gather     |     2 |   4096
//   total          |     2 |   4096
std::string CommDebugMode::table() const {
  std::map<CollectiveKind, std::pair<std::int64_t, std::int64_t>> rows;
  for (const auto& r : records_) {
    rows[r.kind].first += 1;
    rows[r.kind].second += r.bytes;
  }
  std::ostringstream os;
  auto row = [&](std::string_view name, const std::string& count, const std::string& bytes) {
    os << std::left << std::setw(14) << name << " | " << std::right << std::setw(5) << count
       << " | " << std::setw(12) << bytes << "\n";
  };
  row("collective", "count", "bytes");
  for (const auto& [kind, cb] : rows) {
    row(collective_name(kind), std::to_string(cb.first), std::to_string(cb.second));
  }
  row("total", std::to_string(total_count()), std::to_string(total_bytes()));
  return os.str();
}

//   collective     | rank 0       | rank 1
//   all_gather     | 2 / 4096     | 2 / 4096
std::string format_rank_table(const std::vector<std::map<CollectiveKind, std::int64_t>>& counts,
                              const std::vector<std::map<CollectiveKind, std::int64_t>>& bytes) {
  std::set<CollectiveKind> kinds;
  for (const auto& c : counts) {
    for (const auto& [kind, n] : c) kinds.insert(kind);
  }
  auto lookup = [](const std::vector<std::map<CollectiveKind, std::int64_t>>& table,
                   std::size_t rank, CollectiveKind kind) -> std::int64_t {
    if (rank >= table.size()) return 0;
    auto it = table[rank].find(kind);
    return it == table[rank].end() ? 0 : it->second;
  };
  std::ostringstream os;
  os << std::left << std::setw(14) << "collective";
  for (std::size_t r = 0; r < counts.size(); ++r) {
    os << " | " << std::setw(14) << ("rank " + std::to_string(r));
  }
  os << "\n";
  for (CollectiveKind kind : kinds) {
    os << std::setw(14) << collective_name(kind);
    for (std::size_t r = 0; r < counts.size(); ++r) {
      os << " | " << std::setw(14)
         << (std::to_string(lookup(counts, r, kind)) + " / " +
             std::to_string(lookup(bytes, r, kind)));
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace tensorpar
