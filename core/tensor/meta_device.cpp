#include "core/tensor/meta_device.h"

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/base/error.h"
#include "core/base/rank_context.h"

namespace tensorpar {

void MetaMemory::charge(std::size_t nbytes) {
  const std::size_t now = in_use_.fetch_add(nbytes, std::memory_order_relaxed) + nbytes;
  std::size_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void MetaMemory::release(std::size_t nbytes) {
  in_use_.fetch_sub(nbytes, std::memory_order_relaxed);
}

namespace {

// The innermost MetaMemoryScope's account, a per-rank slot (core/base/rank_context.h).
struct MetaAccountState {
  const std::shared_ptr<MetaMemory>* innermost = nullptr;
};
constexpr RankContext::Slot<MetaAccountState> kMetaAccountSlot{RankSlot::MetaMemory};
const std::shared_ptr<MetaMemory>*& innermost_account() {
  return RankContext::current().get(kMetaAccountSlot).innermost;
}

const std::shared_ptr<MetaMemory>& process_memory() {
  static const auto* memory = new std::shared_ptr<MetaMemory>(std::make_shared<MetaMemory>());
  return *memory;
}

const std::shared_ptr<MetaMemory>& current_account() {
  const std::shared_ptr<MetaMemory>* innermost = innermost_account();
  return innermost != nullptr ? *innermost : process_memory();
}

// Each live meta allocation holds a slot: the account it charged. Its address is slot << 40 with
// bit 62 set: 1 TiB apart, so the address ranges of live tensors never overlap (code that
// compares ranges, the collectives' overlap check, sees distinct buffers), and non-canonical on
// x86-64 and AArch64 (bit 62 set, bit 63 clear), so dereferencing it or any offset into it
// faults at once.
constexpr int kSlotShift = 40;
constexpr std::uintptr_t kBase = std::uintptr_t{1} << 62;
constexpr std::size_t kMaxSlots = std::size_t{1} << (62 - kSlotShift);
static_assert(sizeof(std::uintptr_t) == 8, "the meta allocator needs 64-bit addresses");

class MetaAllocator final : public Allocator {
 public:
  void* allocate(std::size_t nbytes) override {
    std::shared_ptr<MetaMemory> account = current_account();
    account->charge(nbytes);
    std::size_t slot;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (free_.empty()) {
        check_state(slots_.size() < kMaxSlots, "meta allocator: more than ", kMaxSlots,
                    " live meta tensors");
        slot = slots_.size();
        slots_.push_back(std::move(account));
      } else {
        slot = free_.back();
        free_.pop_back();
        slots_[slot] = std::move(account);
      }
    }
    return reinterpret_cast<void*>(kBase | (std::uintptr_t(slot) << kSlotShift));
  }
  void deallocate(void* ptr, std::size_t nbytes) override {
    if (ptr == nullptr) return;
    const std::size_t slot = (reinterpret_cast<std::uintptr_t>(ptr) & ~kBase) >> kSlotShift;
    std::shared_ptr<MetaMemory> account;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      account = std::move(slots_[slot]);
      free_.push_back(slot);
    }
    account->release(nbytes);
  }

 private:
  std::mutex mutex_;
  std::vector<std::shared_ptr<MetaMemory>> slots_;
  std::vector<std::size_t> free_;
};

class MetaDeviceInterface final : public DeviceInterface {
 public:
  MetaDeviceInterface() : DeviceInterface("meta") {}
  void copy(void*, const void*, std::size_t) override {}
  void copy_from_host(void*, const void*, std::size_t) override {}
  void copy_to_host(void*, const void*, std::size_t bytes) override {
    throw std::invalid_argument(
        cat("meta tensors have no values: ", bytes, " bytes cannot be copied to the host"));
  }
  void copy_box(void*, const Shape&, const Shape&, const void*, const Shape&, const Shape&,
                const Shape&, std::size_t) override {}
  void fill(void*, DType, std::int64_t, double) override {}
  void convert(void*, DType, const void*, DType, std::int64_t) override {}
  void reduce(DType, ReduceOp, std::span<const void* const>, std::span<void* const>,
              std::int64_t) override {}
};

}  // namespace

MetaMemoryScope::MetaMemoryScope(std::shared_ptr<MetaMemory> memory)
    : memory_(std::move(memory)), previous_(innermost_account()) {
  check_arg(memory_ != nullptr, "MetaMemoryScope: memory is null");
  innermost_account() = &memory_;
}

MetaMemoryScope::~MetaMemoryScope() { innermost_account() = previous_; }

MetaMemory& current_meta_memory() { return *current_account(); }

Allocator& meta_allocator() {
  static auto* allocator = new MetaAllocator;  // outlives every tensor
  return *allocator;
}

DeviceInterface& meta_device_interface() {
  static auto* interface = new MetaDeviceInterface;
  return *interface;
}

}  // namespace tensorpar
