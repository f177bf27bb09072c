#pragma once
// Time of one kernel call (a shape-only run's kernels::OpRecord) on a hardware profile: a
// roofline with efficiency curves and a fixed cost per call.
//
//   t = kernel_launch_s + max(flops / (peak(dtype) x gemm_efficiency(flops)),      GEMMs
//                             bytes / (bandwidth x memory_efficiency(bytes)))
// GEMMs are the "matmul", "linear" and "linear_backward" kernels; every other kernel's FLOPs run
// at the peak of its dtype without the GEMM curve (element-wise work is memory-bound in practice;
// integer kernels use the f32 peak). A record with neither FLOPs nor bytes (a view) costs nothing,
// not even the launch.
//
// A linear_backward record holds the input gradient's and the weight gradient's GEMMs together
// when both were asked for; the GEMM curve is read at one GEMM's FLOPs (half the record's), as
// two calls of that size run. The record tells: its shape is the first gradient's (the input's,
// [.., in], when computed), and what it writes beyond that output is the weight gradient (out x in
// elements, more than the output's leading extent in any real layer) or at most a bias (out).
//
// The launch cost adds to every kernel. On a GPU the host issues kernels asynchronously and, in a
// training step whose kernels each run longer than the host's dispatch (tens of microseconds for
// the element-wise kernels of a b x s x h activation), it runs ahead: what each kernel adds on the
// GPU's timeline is the gap between back-to-back kernels and the idle SMs of its first and last
// waves (kernel_launch_s, a few microseconds), not the host's dispatch time, so an additive cost
// per kernel is the right form; max(host, device) per kernel would charge the host's time where it
// is hidden. On the sim's CPU ranks the kernels run inline on the calling thread, so the
// framework's per-call overhead (what `tensorpar calibrate` measures) adds to each kernel as well.
// Where the host would not keep ahead (tiny models, a batch of a few tokens) the estimate is
// optimistic.
//
//   OpRecord{kernel "linear", flops 2 x 8192^3, bf16} on h100-sxm: 1.1 TFLOP at 0.95 x 989.5
//   TFLOP/s -> 1.17 ms, compute-bound.
#include <string>

#include "core/cost/hardware.h"
#include "core/kernels/meta/op_record.h"

namespace tensorpar::cost {

struct KernelEstimate {
  double seconds = 0;
  std::string bound;  // "compute", "memory", "launch" (the launch outweighs both), "none"
};

bool is_gemm(const kernels::OpRecord& op);
// GEMMs in one record: 2 for a linear_backward that computed both x's and w's gradients (see
// above), 1 for another GEMM, 0 for a kernel that is not a GEMM.
int gemm_count(const kernels::OpRecord& op);
KernelEstimate kernel_time(const kernels::OpRecord& op, const HardwareProfile& hardware);

}  // namespace tensorpar::cost
