#include "core/comm/profiler.h"

#include <chrono>

namespace tensorpar::profiler {

const char* category_name(Category category) {
  switch (category) {
    case Category::Op:
      return "op";
    case Category::Collective:
      return "collective";
  }
  return "?";
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t ProfileRecorder::open() {
  nested_ns_.push_back(0);
  return now_ns();
}

void ProfileRecorder::close(std::string_view name, std::string_view suffix, Category category,
                            std::int64_t start_ns, std::int64_t bytes, CommPhase phase) {
  const std::int64_t duration = now_ns() - start_ns;
  const std::int64_t nested = nested_ns_.empty() ? 0 : nested_ns_.back();
  if (!nested_ns_.empty()) nested_ns_.pop_back();
  if (!nested_ns_.empty()) nested_ns_.back() += duration;
  Event e;
  e.name.reserve(name.size() + suffix.size());
  e.name.append(name).append(suffix);
  e.category = category;
  e.start_ns = start_ns;
  e.duration_ns = duration;
  e.self_ns = duration - nested;
  e.bytes = bytes;
  e.phase = phase;
  events_.push_back(std::move(e));
}

ProfileScope::ProfileScope(ProfileRecorder& recorder) : previous_(active_recorder()) {
  RankContext::current().get(detail::kProfilerSlot).recorder = &recorder;
}

ProfileScope::~ProfileScope() {
  RankContext::current().get(detail::kProfilerSlot).recorder = previous_;
}

void RecordEvent::begin(std::string_view name, Category category, std::int64_t bytes,
                        std::string_view suffix) {
  name_ = name;
  suffix_ = suffix;
  category_ = category;
  bytes_ = bytes;
  phase_ = current_comm_phase();
  start_ns_ = recorder_->open();
}

void RecordEvent::end() { recorder_->close(name_, suffix_, category_, start_ns_, bytes_, phase_); }

}  // namespace tensorpar::profiler
