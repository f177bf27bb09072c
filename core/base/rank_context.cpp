#include "core/base/rank_context.h"

#include <stdexcept>

#include "core/base/error.h"

namespace tensorpar {

namespace {

// A thread's default context, made on its first RankContext::current() and destroyed when the
// thread exits.
struct ThreadDefault {
  std::shared_ptr<RankContext> context;
  ~ThreadDefault() {
    // The state's destructors may still reach the context (a tensor freed by a plan cache
    // warns): it stays installed while it is torn down.
    RankContext* raw = context.get();
    context.reset();
    if (detail::t_current_context == raw) detail::t_current_context = nullptr;
    exited = true;
  }
  static thread_local bool exited;
};
thread_local bool ThreadDefault::exited = false;

}  // namespace

std::shared_ptr<RankContext> RankContext::create() {
  return std::shared_ptr<RankContext>(new RankContext());
}

RankContext& RankContext::install_thread_default() {
  if (ThreadDefault::exited) [[unlikely]] {
    // A thread_local destroyed after the thread's default context asks for one: give it a
    // context of its own for the rest of the thread's exit (kept alive on purpose, as the
    // thread_locals that could own it are gone).
    auto* leaked = new std::shared_ptr<RankContext>(create());
    detail::t_current_context = leaked->get();
    return **leaked;
  }
  static thread_local ThreadDefault thread_default;
  if (!thread_default.context) thread_default.context = create();
  detail::t_current_context = thread_default.context.get();
  return *thread_default.context;
}

std::size_t RankContext::take_extension_slot() {
  static std::atomic<std::size_t> next{static_cast<std::size_t>(RankSlot::Count)};
  const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
  if (index >= kSlots) {
    throw std::length_error(
        cat("RankContext::add_slot: all ", kExtensionSlots, " extension slots are taken"));
  }
  return index;
}

void* RankContext::make(std::size_t index, void* (*construct)(), void (*destroy)(void*)) {
  // Made and dropped outside the lock, so that a state's constructor or destructor may reach
  // other slots.
  void* object = construct();
  void* existing = nullptr;
  {
    std::lock_guard lock(make_mutex_);
    std::atomic<void*>& entry = slots_[index];
    existing = entry.load(std::memory_order_acquire);
    if (existing == nullptr) {
      made_.push_back({index, destroy});
      entry.store(object, std::memory_order_release);
      return object;
    }
  }
  destroy(object);  // another thread made it first
  return existing;
}

std::size_t RankContext::made_slots() const {
  std::size_t n = 0;
  for (const auto& slot : slots_) n += slot.load(std::memory_order_acquire) != nullptr;
  return n;
}

RankContext::~RankContext() {
  // A destructor may make a slot again (state torn down reaching other state): keep going until
  // nothing is left.
  for (;;) {
    Made last{};
    {
      std::lock_guard lock(make_mutex_);
      if (made_.empty()) break;
      last = made_.back();
      made_.pop_back();
    }
    void* object = slots_[last.index].exchange(nullptr, std::memory_order_acq_rel);
    last.destroy(object);
  }
}

RankContextGuard::RankContextGuard(std::shared_ptr<RankContext> context)
    : context_(std::move(context)), previous_(detail::t_current_context) {
  if (!context_) throw std::invalid_argument("RankContextGuard: context must not be null");
  detail::t_current_context = context_.get();
}

RankContextGuard::~RankContextGuard() { detail::t_current_context = previous_; }

}  // namespace tensorpar
