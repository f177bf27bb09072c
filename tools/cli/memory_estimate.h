#pragma once
// Whether a run fits in the machine's memory, checked before it starts: a run that cannot fit is
// refused with the flags that size it, the estimate and the machine's memory, instead of ending
// in a bare std::bad_alloc after minutes.
//
// The estimates are lower bounds: the tensors the run cannot do without, counted once across
// the ranks of this process (a sharded tensor's shards add up to the whole) and never counting
// temporaries, the allocator's cache or what is replicated on every rank. They are compared with
// the machine's physical memory (not what is free now), so a refused run could never have
// fitted, while an accepted one may still run out (and fails naming the allocation: OutOfMemory).
//
//   train --batch 65536 --seq 65536 -> attention probabilities alone: 2 layers x 65536 x 4 heads
//   x 65536^2 x 4 bytes = 8 PiB, against 125 GiB
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"
#include "tools/cli/train_run.h"

namespace tensorpar::cli {

struct MemoryEstimate {
  double bytes = 0;  // a double: the sizes this guards against overflow int64
  std::vector<std::pair<std::string, double>> parts;  // what adds up to `bytes`, largest first
};

// The machine's physical memory in bytes (sysconf; /proc/meminfo's MemTotal when sysconf cannot
// tell), 0 when neither can.
double machine_memory_bytes();

// `tensorpar train` in this process: the model's parameters, gradients and optimizer state
// (Adam: two moments; SGD: none) once, the activations autograd keeps for the backward pass of
// one step (per layer the attention probabilities [batch, heads, seq, seq], the feed-forward
// hidden [batch, seq, 4 dim] and four [batch, seq, dim] tensors; the logits and their softmax
// [batch*seq, vocab]), and the batch's int64 tokens on each of the `ranks_here` ranks.
MemoryEstimate train_memory(const TrainConfig& config, int ranks_here);

// `tensorpar redistribute` in this process: each of the `ranks_here` ranks builds the global
// tensor (staged as float64 values first: counted for one rank at a time) and gathers it back
// (full_tensor) to verify.
MemoryEstimate redistribute_memory(const Shape& shape, DType dtype, std::int64_t ranks_here);

// UsageError when `estimate` exceeds `machine_bytes` (0: unknown, nothing is refused), naming
// `flags` ("--batch 65536 --seq 65536") and the largest parts of the estimate.
void check_fits(const MemoryEstimate& estimate, double machine_bytes, const std::string& flags);

// "1.5 GiB", "8.0 PiB".
std::string bytes_text(double bytes);

}  // namespace tensorpar::cli
