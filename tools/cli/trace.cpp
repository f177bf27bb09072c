#include "tools/cli/trace.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "tools/cli/json.h"

namespace tensorpar::cli {

namespace {

std::string micros(std::int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ns) * 1e-3);
  return buf;
}

// One complete event; `args` is a JSON object or empty.
void complete_event(std::ostream& os, bool& first, const std::string& name, const std::string& cat,
                    std::int64_t start_ns, std::int64_t duration_ns, std::int64_t origin_ns,
                    int rank, const std::string& args) {
  os << (first ? "\n" : ",\n") << "{\"name\":" << Json(name).str() << ",\"cat\":" << Json(cat).str()
     << ",\"ph\":\"X\",\"ts\":" << micros(start_ns - origin_ns)
     << ",\"dur\":" << micros(duration_ns) << ",\"pid\":" << rank << ",\"tid\":" << rank;
  if (!args.empty()) os << ",\"args\":" << args;
  os << "}";
  first = false;
}

void metadata_event(std::ostream& os, bool& first, const char* what, int rank,
                    const std::string& args) {
  os << (first ? "\n" : ",\n") << "{\"name\":\"" << what << "\",\"ph\":\"M\",\"pid\":" << rank
     << ",\"tid\":" << rank << ",\"args\":" << args << "}";
  first = false;
}

}  // namespace

void write_chrome_trace(std::ostream& os, const std::vector<TraceTrack>& tracks,
                        const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::int64_t origin = std::numeric_limits<std::int64_t>::max();
  for (const TraceTrack& t : tracks) {
    for (const TraceSpan& s : t.spans) origin = std::min(origin, s.start_ns);
    if (t.events == nullptr) continue;
    for (const profiler::Event& e : *t.events) origin = std::min(origin, e.start_ns);
  }
  if (origin == std::numeric_limits<std::int64_t>::max()) origin = 0;

  os << "{\"traceEvents\":[";
  bool first = true;
  for (const TraceTrack& t : tracks) {
    const std::string label = t.label.empty() ? "rank " + std::to_string(t.rank) : t.label;
    metadata_event(os, first, "process_name", t.rank, Json::object().set("name", label).str());
    metadata_event(os, first, "process_sort_index", t.rank,
                   Json::object().set("sort_index", t.rank).str());
    metadata_event(os, first, "thread_name", t.rank, Json::object().set("name", label).str());
    for (const TraceSpan& s : t.spans) {
      complete_event(os, first, s.name, s.category, s.start_ns, s.duration_ns, origin, t.rank, "");
    }
    if (t.events == nullptr) continue;
    for (const profiler::Event& e : *t.events) {
      Json args = Json::object().set("phase", phase_name(e.phase));
      if (e.category == profiler::Category::Collective) args.set("bytes", e.bytes);
      complete_event(os, first, e.name, profiler::category_name(e.category), e.start_ns,
                     e.duration_ns, origin, t.rank, args.str());
    }
  }
  Json other = Json::object();
  for (const auto& [key, value] : metadata) other.set(key, value);
  os << "\n],\"displayTimeUnit\":\"ms\",\"otherData\":" << other.str() << "}\n";
}

}  // namespace tensorpar::cli
