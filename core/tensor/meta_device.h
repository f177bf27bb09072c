#pragma once
// The meta device (torch's "meta"): tensors with a shape, a dtype and a device but no values.
// Every kernel on it computes its outputs' shapes only (core/kernels/meta), and a shape-only
// communicator (sim/shape_only_communicator.h) moves nothing, so the real model, styles and
// optimizer code run a training step at hundreds of ranks and real model sizes in seconds,
// yielding each rank's kernels, collectives and memory high-water mark (docs/shape_only.md).
//
//   Tensor x = Tensor::empty({4096, 12288}, DType::BFloat16, meta_device());  // no memory
//   Tensor y = linear(x, w, b);          // y is [4096, out] on meta; nothing is computed
//   y.item();                            // "Tensor::item: meta tensors have no values: ..."
//
// Memory. The meta allocator hands out no memory: each allocation returns an address that must
// never be dereferenced (a non-canonical one, so that a stray read faults at once instead of
// reading garbage), distinct from every other live meta tensor's by a whole TiB, and that names
// the account the bytes were charged to. An account (MetaMemory) counts the requested bytes of
// its live meta tensors and their high-water mark; a rank's allocations are charged to the
// account of its innermost MetaMemoryScope (a slot of the rank context), else to a process-wide
// account. A free goes back to the account that was charged, whichever thread frees it. A
// shape-only run gives each rank its own account (one scope per rank).
//
// Moving memory. The device interface's copies, fills, conversions, box copies and reductions do
// nothing: the shapes are already right. Values cannot leave the device: a copy to the host
// (item, to_vector, .to(cpu())) throws std::invalid_argument "<operation>: meta tensors have no
// values: ...". A copy from the host or another device to meta is allowed and keeps the shape
// only: Tensor::to(meta_device()) of a CPU tensor is a meta tensor of its shape and dtype.
#include <atomic>
#include <cstddef>
#include <memory>

#include "core/tensor/device.h"
#include "core/tensor/device_interface.h"

namespace tensorpar {

// Device{DeviceType::Meta, 0}, printed "meta".
inline Device meta_device() { return Device{DeviceType::Meta, 0}; }
inline bool is_meta(Device device) { return device.type == DeviceType::Meta; }

// The requested bytes of the live meta tensors charged to one account, and their high-water mark
// since the account was made or reset_peak() last ran. Thread-safe.
class MetaMemory {
 public:
  std::size_t bytes_in_use() const { return in_use_.load(std::memory_order_relaxed); }
  std::size_t peak_bytes() const { return peak_.load(std::memory_order_relaxed); }
  // The high-water mark restarts from the bytes in use now.
  void reset_peak() { peak_.store(bytes_in_use(), std::memory_order_relaxed); }

  void charge(std::size_t nbytes);
  void release(std::size_t nbytes);

 private:
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> peak_{0};
};

// Charges the meta allocations of the calling thread to `memory` for the scope's lifetime (nests:
// the innermost scope wins). The account lives as long as any tensor charged to it.
class MetaMemoryScope {
 public:
  explicit MetaMemoryScope(std::shared_ptr<MetaMemory> memory);
  ~MetaMemoryScope();
  MetaMemoryScope(const MetaMemoryScope&) = delete;
  MetaMemoryScope& operator=(const MetaMemoryScope&) = delete;

 private:
  std::shared_ptr<MetaMemory> memory_;
  const std::shared_ptr<MetaMemory>* previous_;
};

// The account the calling thread's meta allocations are charged to now.
MetaMemory& current_meta_memory();

// The meta device's allocator and device interface, registered for DeviceType::Meta from the
// start (device.h, device_interface.h).
Allocator& meta_allocator();
DeviceInterface& meta_device_interface();

}  // namespace tensorpar
