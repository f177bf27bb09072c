#pragma once
// SequenceParallel: runs a LayerNorm, RMSNorm or Dropout on activations sharded on the sequence
// dim (PyTorch's SequenceParallel). Parameters are wrapped as Replicate DTensors without any
// communication (they must already be identical on every rank, as a fresh norm's ones and zeros
// are); inputs are sharded on `sequence_dim`; the norm's weight and bias gradients come out
// Partial and are reduced when needed (the optimizer step), not in backward.
//
//   SequenceParallel()                       // sequence_dim 1, returns DTensors
//   LayerNorm(12) on x (20, 8W, 12) Shard(1): output Shard(1), 0 collectives forward and backward,
//   weight.grad and bias.grad Partial.
//
// Input hook: a DTensor with other placements is redistributed to Shard(sequence_dim); a plain
// tensor is taken as this rank's sequence shard (from_local). Output: returned as is (a DTensor),
// or its local tensor when use_local_output.
#include <cstdint>
#include <string>

#include "styles/parallel_style.h"

namespace tensorpar {

struct SequenceParallelOptions {
  std::int64_t sequence_dim = 1;
  bool use_local_output = false;
};

class SequenceParallel : public ParallelStyle {
 public:
  explicit SequenceParallel(const SequenceParallelOptions& options = {});
  void apply(nn::Module& module, const DeviceMesh& mesh) override;
  std::string repr() const override;

  std::int64_t sequence_dim;
  bool use_local_output;
};

}  // namespace tensorpar
