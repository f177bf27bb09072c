#pragma once
// What the meta backend's files share: making outputs on the meta device and recording a call.
#include <cstdint>
#include <initializer_list>

#include "core/kernels/meta/op_record.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels::meta {

inline std::int64_t bytes_of(const Tensor& t) { return t.defined() ? std::int64_t(t.nbytes()) : 0; }

inline std::int64_t bytes_of(std::initializer_list<const Tensor*> tensors) {
  std::int64_t total = 0;
  for (const Tensor* t : tensors) total += bytes_of(*t);
  return total;
}

// Appends the record of one call to the thread's recorders; `result` is the first output or the
// tensor updated in place.
inline void note(const char* kernel, const char* op, std::int64_t flops, std::int64_t bytes_read,
                 std::int64_t bytes_written, const Tensor& result) {
  if (!OpRecorder::active()) return;
  OpRecorder::record(
      OpRecord{kernel, op, flops, bytes_read, bytes_written, result.dtype(), result.shape(), ""});
}

// An in-place update of `target` that reads `inputs` besides it, at `per_element` FLOPs.
inline void note_in_place(const char* kernel, const char* op, const Tensor& target,
                          std::int64_t per_element, std::int64_t other_bytes_read) {
  note(kernel, op, per_element * target.numel(), bytes_of(target) + other_bytes_read,
       bytes_of(target), target);
}

}  // namespace tensorpar::kernels::meta
