#pragma once
// Memory per GPU of a Megatron-style GPT (the reference Transformer: LayerNorm, GELU MLP of 4h,
// learned positions, tied embeddings) under tensor parallel t and data parallel d, by kind:
//
//   parameters   P / t elements at the training dtype (P = 12 l h^2 (1 + 13/(12 h) + (V + s)/(12 l h)),
//                vocab padded to a multiple of t as the plan's torch.chunk sharding does)
//   gradients    the same count at the training dtype
//   optimizer    Adam: two moments; with a 16-bit dtype (mixed precision) also the fp32 master
//                weights: 12 bytes per local parameter; with f32: 8
//   activations  per layer and micro-batch, Korthikanti et al. 2022 (16-bit activations; scaled
//                by dtype bytes / 2 for f32): no SP  s b h (10 + 24/t + 5 a s/(h t));
//                SP  s b h (34 + 5 a s/h) / t; SP + selective 34 s b h / t (without SP, selective
//                keeps s b h (10 + 24/t)); full recompute 2 s b h (/ t with SP) per layer plus one
//                layer's full activations during its recompute; plus the embedding output and
//                the logits (b s V / t at the dtype, and their f32 softmax for the loss)
//
//   memory_per_gpu({96, 12288, 96, 2048, 51200}, {8, 8, 1, SP, selective, bf16}).activations
//     // ~12 GiB of Korthikanti's Figure 1 row for 175B at t = 8 (with p = 8 it is per stage)
#include <cstdint>

#include "core/tensor/dtype.h"

namespace tensorpar::cost {

enum class Recompute { None, Selective, Full };
const char* recompute_name(Recompute r);  // "none", "selective", "full"

struct ModelShape {
  std::int64_t layers = 0, hidden = 0, heads = 0, seq = 0, vocab = 0;
  std::int64_t parameters() const;  // the reference Transformer's exact count (max_seq_len = seq)
};

struct ParallelConfig {
  int tp = 1, dp = 1;
  std::int64_t micro_batch = 1;
  bool sequence_parallel = false;
  Recompute recompute = Recompute::None;
  DType dtype = DType::BFloat16;  // the training dtype; 16-bit means mixed precision
};

struct MemoryBreakdown {
  double parameters = 0, gradients = 0, optimizer = 0, activations = 0;  // bytes
  double total() const { return parameters + gradients + optimizer + activations; }
};

MemoryBreakdown memory_per_gpu(const ModelShape& model, const ParallelConfig& plan);

// Korthikanti's activation bytes of one transformer layer for one micro-batch (16-bit), as above.
double activation_bytes_per_layer(const ModelShape& model, const ParallelConfig& plan);

}  // namespace tensorpar::cost
