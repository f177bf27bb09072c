#pragma once
// The op/collective profiler: a per-rank sink of timed events, off unless a ProfileScope is
// active in the rank context (core/base/rank_context.h). Each sim rank is a thread with its own
// context, so a training run activates one recorder per rank thread:
//
//   ProfileRecorder recorder;
//   {
//     ProfileScope scope(recorder);   // this rank records until the scope ends
//     Tensor y = relu(x);             // -> {name "relu", category Op, phase Forward, ...}
//     y.sum().backward();             // -> {"relu_backward", Op, phase Backward}
//   }
//   recorder.events();
//
// What is recorded:
//   op          the local kernel of apply_op, and of the op's backward ("<op>_backward") under
//               autograd; the redistributes around a kernel are not part of it
//   collective  a Communicator call, from handing it to the backend to its completion (waiting
//               for the peers included: while profiling, a collective waits for its Work before
//               returning; send/recv are timed to their return), with the bytes CommDebugMode
//               counts
// Every event carries the phase of comm_debug_mode.h current when it began.
//
// Events nest (a collective issued inside an op's kernel, such as the loss-parallel
// cross_entropy's reductions): self_ns is the duration minus the events nested inside it, so
// summing self_ns never counts a nanosecond twice.
//
// Cost while inactive: reaching the rank context's slot (a thread_local pointer and an indexed
// load) and one pointer load, per op and per collective.
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/base/rank_context.h"
#include "core/comm/comm_debug_mode.h"

namespace tensorpar::profiler {

enum class Category : std::uint8_t { Op, Collective };
// "op", "collective".
const char* category_name(Category category);

struct Event {
  std::string name;  // the op name ("linear") or the collective name ("all_reduce")
  Category category = Category::Op;
  std::int64_t start_ns = 0;  // steady clock, comparable across the threads of a process
  std::int64_t duration_ns = 0;
  std::int64_t self_ns = 0;  // duration minus the events nested inside
  std::int64_t bytes = 0;    // collectives only
  CommPhase phase = CommPhase::Forward;
};

// Nanoseconds of the steady clock, the time base of every Event.
std::int64_t now_ns();

// Collects the events of the rank contexts it is active in (through ProfileScope). Not
// synchronised: activate one recorder per context, used by one thread at a time.
class ProfileRecorder {
 public:
  const std::vector<Event>& events() const { return events_; }
  void clear() { events_.clear(); }

  // Used by RecordEvent: opens an event (returns its start), closes the innermost one.
  std::int64_t open();
  void close(std::string_view name, std::string_view suffix, Category category,
             std::int64_t start_ns, std::int64_t bytes, CommPhase phase);

 private:
  std::vector<Event> events_;
  std::vector<std::int64_t> nested_ns_;  // per open event: time of the events nested inside
};

namespace detail {
struct ProfilerState {
  ProfileRecorder* recorder = nullptr;
};
inline constexpr RankContext::Slot<ProfilerState> kProfilerSlot{RankSlot::Profiler};
}  // namespace detail

// The recorder active in this rank context, or nullptr.
inline ProfileRecorder* active_recorder() {
  return RankContext::current().get(detail::kProfilerSlot).recorder;
}

// Makes `recorder` the rank context's sink for its lifetime (nests: the previous one is
// restored).
class ProfileScope {
 public:
  explicit ProfileScope(ProfileRecorder& recorder);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  ProfileRecorder* previous_;
};

// Times its own lifetime as one event when a recorder is active in the rank context. `name` (and
// `suffix`, appended to it) must outlive the object; they are copied only when recording:
//
//   profiler::RecordEvent event(collective_name(kind), Category::Collective, bytes);
//   profiler::RecordEvent event([&] { return op->name(); }, Category::Op, "_backward");
class RecordEvent {
 public:
  RecordEvent(std::string_view name, Category category, std::int64_t bytes = 0)
      : recorder_(active_recorder()) {
    if (recorder_ != nullptr) begin(name, category, bytes, {});
  }
  // The name from `name()` (a const char*), called only when recording: for names that cost a
  // virtual call, such as an op's.
  template <class NameFn>
    requires std::is_invocable_r_v<const char*, NameFn&>
  RecordEvent(NameFn&& name, Category category, const char* suffix = "")
      : recorder_(active_recorder()) {
    if (recorder_ != nullptr) begin(name(), category, 0, suffix);
  }
  ~RecordEvent() {
    if (recorder_ != nullptr) end();
  }
  RecordEvent(const RecordEvent&) = delete;
  RecordEvent& operator=(const RecordEvent&) = delete;

  bool active() const { return recorder_ != nullptr; }

 private:
  void begin(std::string_view name, Category category, std::int64_t bytes, std::string_view suffix);
  void end();

  ProfileRecorder* recorder_;
  std::string_view name_, suffix_;
  Category category_ = Category::Op;
  CommPhase phase_ = CommPhase::Forward;
  std::int64_t bytes_ = 0;
  std::int64_t start_ns_ = 0;
};

}  // namespace tensorpar::profiler
