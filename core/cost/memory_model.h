#pragma once
// Memory per GPU of a Megatron-style GPT (the reference Transformer: LayerNorm, GELU MLP of 4h,
// learned positions, tied embeddings) under tensor parallel t and data parallel d, by kind:
//
//   parameters   P / t elements at the training dtype, P = 12 l h^2 (1 + 13/(12 h) +
//                (V + s)/(12 l h)) in Narayanan's form; exactly: the largest rank's (rank 0's)
//                local parameters under the TP plan (torch.chunk shards: ceil(n / t) on rank 0):
//                ceil(V/t) h + ceil(s/t) h (the embeddings, Rowwise) + l (4 h ceil(h/t) (wq, wk,
//                wv, wo) + 2 h ceil(4h/t) + ceil(4h/t) + h (w1, w2 and their biases) + 4 h (two
//                LayerNorms)) + 2 h (the final norm); the output weight is the token embedding's
//   gradients    the same count at the training dtype (or gradient_element_bytes each)
//   optimizer    Adam: two moments; with a 16-bit dtype (mixed precision) also the fp32 master
//                weights: 12 bytes per local parameter; with f32: 8
//   activations  per layer and micro-batch, Korthikanti et al. 2022 (16-bit activations; scaled
//                by dtype bytes / 2 for f32): no SP  s b h (10 + 24/t + 5 a s/(h t));
//                SP  s b h (34 + 5 a s/h) / t; SP + selective 34 s b h / t (without SP, selective
//                keeps s b h (10 + 24/t)); full recompute 2 s b h (/ t with SP) per layer plus one
//                layer's full activations during its recompute; plus the embedding output and
//                the logits (b s V / t at the dtype, and their f32 softmax for the loss)
//
//   memory_per_gpu({48, 6144, 64, 2048, 51200}, {8, 1, 4, SP, selective, bf16}).activations
//     // 48 x 34 s b h / t = 9.56 GiB of layers (Korthikanti's Figure 1, 22B at t = 8), + 0.01 GiB
//     // embedding output (s b h / t) + 0.29 GiB logits and their f32 softmax (b s V / t x 6 B)
//
// These are Megatron's numbers. This library's step keeps more per layer (its dropout masks are
// tensors of the activation dtype where the formulas count 1 byte; with SP its column-parallel
// linears keep the all-gathered input, which Megatron gathers again in backward): the shape-only
// run's peak grows 11-23% faster per layer (tests/tools/test_cost_memory_vs_shape_only.cpp).
// Left out as well: temporaries inside one op, the allocator's rounding and fragmentation.
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
  // Bytes per gradient element; 0: the training dtype's. Megatron-LM accumulates the gradients
  // of 16-bit training in fp32 (4), 18 bytes per parameter with Adam instead of 16.
  int gradient_element_bytes = 0;
};

struct MemoryBreakdown {
  double parameters = 0, gradients = 0, optimizer = 0, activations = 0;  // bytes
  double total() const { return parameters + gradients + optimizer + activations; }
};

MemoryBreakdown memory_per_gpu(const ModelShape& model, const ParallelConfig& plan);

// Korthikanti's activation bytes of one transformer layer for one micro-batch, as above (what the
// layer keeps for backward under plan.recompute; the formulas' 16-bit bytes x dtype bytes / 2).
//   {48, 6144, 64, 2048, 51200}, {tp 8, micro_batch 4, no SP, no recompute, bf16}:
//     2048 x 4 x 6144 x (10 + 24/8 + 5 x 64 x 2048 / (6144 x 8)) = 1.325 GB
double activation_bytes_per_layer(const ModelShape& model, const ParallelConfig& plan);

}  // namespace tensorpar::cost
