#pragma once
// Chrome trace-event JSON (the format chrome://tracing and Perfetto open) from profiler events.
//
// One track per rank: process `rank` named "rank <r>", one thread. Every profiler event is a
// complete event ("ph": "X") with its category ("op" or "collective") and args {"phase"}, plus
// "bytes" on collectives; spans (steps, phases) are complete events of their own category that
// enclose the events they contain. Times are microseconds from the earliest start.
//
//   {"traceEvents": [
//     {"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "rank 0"}},
//     {"name": "linear", "cat": "op", "ph": "X", "ts": 12.5, "dur": 40.1, "pid": 0, "tid": 0,
//      "args": {"phase": "forward"}},
//     {"name": "all_reduce", "cat": "collective", "ph": "X", ..., "args": {"phase": "forward",
//      "bytes": 65536}}, ...],
//    "displayTimeUnit": "ms", "otherData": {...}}
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/comm/profiler.h"

namespace tensorpar::cli {

struct TraceSpan {
  std::string name;      // "step 3", "forward"
  std::string category;  // "step", "phase"
  std::int64_t start_ns = 0;
  std::int64_t duration_ns = 0;
};

struct TraceTrack {
  int rank = 0;
  const std::vector<profiler::Event>* events = nullptr;
  std::vector<TraceSpan> spans;
  std::string label;  // the track's name; "" names it "rank <rank>"
};

// Writes the trace; `metadata` (string pairs) goes to "otherData".
void write_chrome_trace(std::ostream& os, const std::vector<TraceTrack>& tracks,
                        const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace tensorpar::cli
