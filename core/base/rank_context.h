#pragma once
// The rank context: everything a rank keeps between calls — its world communicator, current
// device, current mesh, generator, grad mode, plan caches, debug and profiling scopes — in one
// object that can be handed to a helper thread (a communication watchdog, a data loader) so that
// the helper acts as the rank. docs/rank_context.md has the design and the concurrency contract.
//
// The context lives here, in the lowest layer, yet holds state owned by higher layers without
// naming their types: each owner reaches its state through a typed key,
//
//   struct GradModeState { std::atomic<bool> enabled{true}; };             // in autograd.cpp
//   constexpr RankContext::Slot<GradModeState> kGradMode{RankSlot::GradMode};
//   bool enabled = RankContext::current().get(kGradMode).enabled.load(std::memory_order_relaxed);
//
// and the state object is made (default-constructed) the first time the context is asked for it.
// Reaching it costs one thread_local pointer load and an indexed load: no lock, no lookup, no
// allocation after the first use.
//
// A thread that never installs a context gets its own default one on first use, so code that
// never mentions contexts behaves as if each thread had its own thread_locals.
//
//   auto context = RankContext::capture();          // on the rank's thread
//   std::thread helper([context] {
//     RankContextGuard guard(context);              // the helper is now the rank:
//     current_world().all_reduce(t)->wait();        //   the rank's communicator, device, mesh...
//   });
//   helper.join();                                  // one user at a time (see below)
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace tensorpar {

// One entry per piece of core's per-rank state, named for its owner. The owner's layer declares
// the state's type with a RankContext::Slot<T> of this index, in exactly one place. Code above
// core (user code, tools) takes one of the kExtensionSlots with RankContext::add_slot<T>().
enum class RankSlot : std::uint8_t {
  Warnings,           // base: the innermost WarningCapture
  Device,             // tensor: the current device (CUDA's stream: an extension slot)
  MetaMemory,         // tensor: the meta device's account (MetaMemoryScope)
  OpRecorder,         // kernels: the innermost OpRecorder of shape-only runs
  World,              // comm: the world communicator (WorldGuard)
  CommScopes,         // comm: the innermost CommDebugMode, CommPhaseScope, CommModuleScope
  Profiler,           // comm: the active ProfileRecorder
  GradMode,           // autograd
  CurrentMesh,        // dtensor: the innermost MeshScope
  RedistributePlans,  // dtensor: the redistribute plan cache
  ShardingPlans,      // ops: the sharding-plan cache
  Generator,          // ops: the default generator
  LossParallel,       // ops: the active loss_parallel handlers
  PlanTrace,          // ops: the innermost PlanTrace
  ParameterMemo,      // styles: the innermost ParameterMemo
  Count
};

class RankContext;

namespace detail {
// The context installed on this thread; null until the thread first asks for one.
inline thread_local RankContext* t_current_context = nullptr;
}  // namespace detail

class RankContext : public std::enable_shared_from_this<RankContext> {
 public:
  // The typed key of one slot. For core's slots a constant: declare it `constexpr` beside the
  // state's type.
  template <class T>
  class Slot {
   public:
    constexpr explicit Slot(RankSlot slot) : index_(static_cast<std::size_t>(slot)) {}

   private:
    friend class RankContext;
    constexpr Slot(std::size_t index, std::nullptr_t) : index_(index) {}
    std::size_t index_;
  };

  static constexpr std::size_t kExtensionSlots = 8;
  static constexpr std::size_t kSlots = static_cast<std::size_t>(RankSlot::Count) + kExtensionSlots;

  // A new slot of state T for code above core, in every context present and future. Take it once
  // (a namespace-scope or function-local static) and keep it. Throws std::length_error once the
  // kExtensionSlots are taken.
  template <class T>
  static Slot<T> add_slot() {
    return Slot<T>(take_extension_slot(), nullptr);
  }

  // A context with no state made yet: every slot is made on first use, default-constructed.
  static std::shared_ptr<RankContext> create();

  // The context installed on this thread (RankContextGuard), else this thread's default one.
  static RankContext& current() {
    RankContext* context = detail::t_current_context;
    if (context == nullptr) [[unlikely]] {
      context = &install_thread_default();
    }
    return *context;
  }

  // Shared ownership of current(), to hand to another thread.
  static std::shared_ptr<RankContext> capture() { return current().shared_from_this(); }

  // The state of `slot`, made on first use. Making it is safe from several threads at once (one
  // object wins); the object's own members follow the contract of docs/rank_context.md.
  template <class T>
  T& get(Slot<T> slot) {
    void* object = slots_[slot.index_].load(std::memory_order_acquire);
    if (object == nullptr) [[unlikely]] {
      object = make(
          slot.index_, [] { return static_cast<void*>(new T()); },
          [](void* p) { delete static_cast<T*>(p); });
    }
    return *static_cast<T*>(object);
  }

  // The state of `slot` if it has been made, else nullptr; never makes it.
  template <class T>
  T* find(Slot<T> slot) const {
    return static_cast<T*>(slots_[slot.index_].load(std::memory_order_acquire));
  }

  // How many slots have been made in this context.
  std::size_t made_slots() const;

  // Destroys the state that was made, the last made first.
  ~RankContext();
  RankContext(const RankContext&) = delete;
  RankContext& operator=(const RankContext&) = delete;

 private:
  RankContext() = default;
  static RankContext& install_thread_default();
  static std::size_t take_extension_slot();
  void* make(std::size_t index, void* (*construct)(), void (*destroy)(void*));

  struct Made {
    std::size_t index;
    void (*destroy)(void*);
  };
  std::array<std::atomic<void*>, kSlots> slots_{};
  std::mutex make_mutex_;   // serialises publishing a made slot; never taken to read one
  std::vector<Made> made_;  // in the order made
};

// Installs `context` on this thread for the guard's lifetime and restores the previous one (the
// thread's default included) afterwards. Guards nest. Throws std::invalid_argument for a null
// context.
class RankContextGuard {
 public:
  explicit RankContextGuard(std::shared_ptr<RankContext> context);
  ~RankContextGuard();
  RankContextGuard(const RankContextGuard&) = delete;
  RankContextGuard& operator=(const RankContextGuard&) = delete;

 private:
  std::shared_ptr<RankContext> context_;
  RankContext* previous_;
};

}  // namespace tensorpar
