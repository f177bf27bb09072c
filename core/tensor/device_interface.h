#pragma once
// DeviceInterface: what the tensor layer needs from a device to move tensor memory, one per
// DeviceType, registered beside its allocator (device.h) and looked up without a lock.
//
// Everything above the kernels that touches tensor memory goes through here or through a kernel
// (core/kernels/backend.h): copies, fills, dtype conversion, the strided box copies behind
// narrow, narrow_assign_ and the shard collectives' pad/unpad, transfers to and from the host,
// and the element-wise reduction of several buffers that a collective backend without its own
// arithmetic (the simulated one) uses. Pointers are device pointers of this device
// (Tensor::device_data()); "host" pointers are ordinary CPU memory.
//
// Every call is ordered after the device work issued before it on the calling thread and
// complete when it returns (a stream parameter can be appended later; the CPU has none).
// Example, a CUDA implementation: copy is cudaMemcpyAsync(DeviceToDevice) on the current
// stream, copy_to_host a synchronous cudaMemcpy, fill and reduce small kernels.
//
// A device that lacks an operation leaves the default, which throws
// "<device> does not support <operation>".
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/tensor/device.h"
#include "core/tensor/dtype.h"
#include "core/tensor/reduce_op.h"
#include "core/tensor/shape.h"

namespace tensorpar {

class DeviceInterface {
 public:
  explicit DeviceInterface(std::string name) : name_(std::move(name)) {}
  virtual ~DeviceInterface() = default;
  const std::string& name() const { return name_; }

  // bytes from src to dst, both on this device; regions may not overlap unless equal.
  virtual void copy(void* dst, const void* src, std::size_t bytes);
  virtual void copy_from_host(void* dst, const void* host_src, std::size_t bytes);
  virtual void copy_to_host(void* host_dst, const void* src, std::size_t bytes);

  // The box [src_start, src_start + extent) of a row-major src_shape array to
  // [dst_start, dst_start + extent) of a row-major dst_shape array, elements of elem_size bytes.
  // narrow is a box copy into a fresh tensor; padding a shard for a collective is a box copy
  // into a zeroed buffer. Example: src [4, 6], src_start [0, 2], extent [4, 3] copies columns
  // 2..4 of every row.
  virtual void copy_box(void* dst, const Shape& dst_shape, const Shape& dst_start,
                        const void* src, const Shape& src_shape, const Shape& src_start,
                        const Shape& extent, std::size_t elem_size);

  // n elements of dtype at dst set to value (converted as static_cast<T>(value) does).
  virtual void fill(void* dst, DType dtype, std::int64_t n, double value);
  // n elements converted from `from` at src to `to` at dst (round to nearest even into bfloat16;
  // floating to int64 truncates toward zero and throws for NaN or out-of-range values).
  virtual void convert(void* dst, DType to, const void* src, DType from, std::int64_t n);

  // Every dsts[j][i] = srcs[0][i] op srcs[1][i] op ... for i < count, combined in the order given
  // (so every caller computes bit-identical results); avg divides the sum by srcs.size() (int64
  // truncating), bfloat16 accumulates in float32 and rounds once. dsts may alias srcs.
  virtual void reduce(DType dtype, ReduceOp op, std::span<const void* const> srcs,
                      std::span<void* const> dsts, std::int64_t count);

 protected:
  [[noreturn]] void unsupported(const char* operation) const;

 private:
  std::string name_;
};

// The interface of a device type; std::invalid_argument naming the type when none is registered.
DeviceInterface& device_interface(DeviceType type);
// Registers (or replaces) it; the interface must outlive every tensor of that type. The CPU's is
// built in.
void register_device_interface(DeviceType type, DeviceInterface* interface);
// The built-in CPU interface, which serves any device whose memory the host can address.
DeviceInterface& cpu_device_interface();

// Copies `bytes` from src on src_device to dst on dst_device: through the host when the two are
// different device types, directly otherwise.
void copy_between(void* dst, Device dst_device, const void* src, Device src_device,
                  std::size_t bytes);

}  // namespace tensorpar
