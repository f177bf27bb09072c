#pragma once
// What a shape-only run learns about each kernel call: the meta kernel backend (meta_backend.h)
// appends one OpRecord per call to every OpRecorder active on the calling thread.
//
//   OpRecorder ops;
//   Tensor y = kernels::matmul(a, b);            // a [8, 64], b [64, 32] on the meta device
//   ops.records()[0];  // {kernel "matmul", flops 2*8*64*32, bytes_read (8*64 + 64*32) * 4,
//                      //  bytes_written 8*32*4, dtype float32, shape [8, 32]}
//
// FLOPs count multiply and add separately (a GEMM of m x k by k x n is 2mkn); element-wise
// kernels count their elements times a small per-element cost stated in meta_backend.cpp (1 for
// add, mul, relu...; a softmax 5 per element), data movement 0. Bytes are what the kernel must
// read and write at least: every defined input once, every output once (an in-place update
// reads and writes its target). The records feed a cost model: FLOPs against a device's peak,
// bytes against its memory bandwidth.
//
// Recorders are per rank (a slot of the rank context; a sim rank is a thread) and nest: every
// active recorder of the rank gets each record, stamped with its own phase label.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"

namespace tensorpar::kernels {

struct OpRecord {
  std::string kernel;  // the entry point: "matmul", "binary", "unary", "layer_norm", ...
  std::string op;      // the operation within it: "add", "gelu_tanh", "sum"; "" when none
  std::int64_t flops = 0;
  std::int64_t bytes_read = 0;
  std::int64_t bytes_written = 0;
  DType dtype = DType::Float32;  // of the first output (of the updated tensor when in place)
  Shape shape;                   // likewise
  std::string phase;             // the recorder's phase when the kernel ran ("" unless set)
};

class OpRecorder {
 public:
  OpRecorder();
  ~OpRecorder();
  OpRecorder(const OpRecorder&) = delete;
  OpRecorder& operator=(const OpRecorder&) = delete;

  // Whether any recorder is active on this thread (kernels skip building records otherwise).
  static bool active();
  // Appends `record` to every recorder active on this thread.
  static void record(const OpRecord& record);

  // Stamps the records that follow ("forward", "backward", "optimizer").
  void set_phase(std::string phase) { phase_ = std::move(phase); }
  const std::vector<OpRecord>& records() const { return records_; }
  std::vector<OpRecord> take() { return std::move(records_); }
  void clear() { records_.clear(); }

  std::int64_t total_flops() const;
  std::int64_t total_bytes() const;  // read + written

 private:
  std::vector<OpRecord> records_;
  std::string phase_;
  OpRecorder* previous_;
};

}  // namespace tensorpar::kernels
