#pragma once
// The fixed cost of one kernel call as the tensor-parallel training path pays it: the
// differentiable op (autograd's graph and backward engine, the DTensor dispatch and its sharding
// rule, the output's allocation) around a kernel whose work is negligible. This is a calibrated
// profile's kernel_launch_s: the CPU's counterpart of a GPU kernel launch.
//
// Measured on the reference Transformer's training step at tiny dimensions (2 layers, dim 8, 2
// heads, vocab 8, 4 tokens), parallelized over a 1-rank mesh as `tensorpar train` parallelizes
// over its world: forward, cross_entropy, backward, Adam step, zero_grad. Its step time (the lower
// quartile of repeated steps, stopwatch.h) divided by the kernel calls the shape-only run of the
// same step counts (about 130) is the cost per call; the arithmetic of a tiny kernel is part of it.
namespace tensorpar::calibrate {

struct OpOverhead {
  double seconds_per_kernel = 0;
  double step_seconds = 0;  // the tiny step's time
  int kernels = 0;          // kernel calls in one step (shape-only count)
};

// Runs the step on one rank thread of the simulated backend (sim::run(1, ...)).
OpOverhead measure_op_overhead(bool quick);

}  // namespace tensorpar::calibrate
