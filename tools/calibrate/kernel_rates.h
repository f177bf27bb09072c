#pragma once
// What the library's CPU kernels reach on this machine, on one rank thread: the rates behind a
// calibrated profile's device (core/cost/hardware.h's DeviceProfile), each point a kernel call
// with the FLOPs and bytes the shape-only run counts for it (the meta device's OpRecord), so
// that the cost model divides the same numbers it was calibrated with.
//
// GEMMs. The linear layer with its bias, forward and backward, as the Transformer's layers call
// it: tokens t = 4d rows of width d into d and 4d outputs and back (x [4d, d] @ w[d, d]^T, the
// attention's projection; [4d, d] @ [4d, d]^T and [4d, 4d] @ [d, 4d]^T, the MLP's two) for d from
// 16 to 512 (quick: 32 and 128). The projection is a point, the MLP's pair another: (FLOPs of one
// of its GEMMs, FLOP/s of its forwards and backwards together, as a training step runs them), at
// the size where the cost model reads the curve for all of them (core/cost/kernel_model.h: a
// backward is two GEMMs of the forward's size).
//   d = 64: linear [256, 64] -> [256, 256] is 8.4 MFLOP (2 x 256 x 64 x 256), its backward 16.8;
//   the point is (8.4 MFLOP, 25.2 MFLOP / the two calls' time).
//
// Element-wise kernels. On a CPU the element-wise kernels with transcendental functions (the
// exp of softmax, the erf of GELU) are bound by arithmetic, not by memory: a softmax moves 8
// bytes per element and takes several nanoseconds for it, an add moves 12 in a fraction of one.
// The cost model gives every such kernel one bandwidth, so the one measured is the rate of the
// element-wise kernels a Transformer layer runs, each once, at n elements: add, multiply by a
// scalar, GELU and its backward, softmax and its backward, layer_norm and its backward, and the
// copy of a head permute; rate = their bytes / their time, at the size of their mean bytes per
// call, for n from 4096 to 4M elements (quick: 3 sizes). The plain streaming rate (add alone)
// is reported beside it.
#include <vector>

#include "tools/calibrate/rate_curve.h"

namespace tensorpar::calibrate {

struct KernelRates {
  std::vector<RatePoint> gemm;         // (FLOPs of one GEMM, FLOP/s)
  std::vector<RatePoint> elementwise;  // (bytes per call, B/s) of the layer's element-wise mix
  std::vector<RatePoint> stream;       // (bytes per call, B/s) of add alone
};

// Runs on the calling thread with CPU tensors; the meta device counts FLOPs and bytes.
KernelRates measure_kernel_rates(bool quick);

}  // namespace tensorpar::calibrate
