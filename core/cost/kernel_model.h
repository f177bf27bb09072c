#pragma once
// Time of one kernel call (a shape-only run's kernels::OpRecord) on a hardware profile: a
// roofline with efficiency curves and a fixed cost per call.
//
//   t = kernel_launch_s + max(flops / (peak(dtype) x gemm_efficiency(flops)),      GEMMs
//                             bytes / (bandwidth x memory_efficiency(bytes)))
// GEMMs are the "matmul", "linear" and "linear_backward" kernels; every other kernel's FLOPs run
// at the peak of its dtype without the GEMM curve (element-wise work is memory-bound in practice).
// A record with neither FLOPs nor bytes (a view) costs nothing, not even the launch.
//
//   OpRecord{kernel "linear", flops 2 x 8192^3, bf16} on h100-sxm: 1.1 TFLOP at 0.95 x 989.5
//   TFLOP/s -> 1.17 ms, compute-bound.
#include <string>

#include "core/cost/hardware.h"
#include "core/kernels/meta/op_record.h"

namespace tensorpar::cost {

struct KernelEstimate {
  double seconds = 0;
  std::string bound;  // "compute", "memory", "launch", "none"
};

bool is_gemm(const kernels::OpRecord& op);
KernelEstimate kernel_time(const kernels::OpRecord& op, const HardwareProfile& hardware);

}  // namespace tensorpar::cost
