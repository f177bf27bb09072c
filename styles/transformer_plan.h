#pragma once
// The tensor-parallel plan of the reference Transformer (core/nn/transformer.h), as PyTorch's
// test utilities parallelize it (reference section 8):
//
// | module (FQN)                          | without sequence parallel | with sequence parallel        |
// |---------------------------------------|---------------------------|-------------------------------|
// | tok_embeddings                        | Rowwise(input R, out R)   | Rowwise(input R, out S(1))    |
// | pos_embeddings                        | Rowwise(input R, out R)   | Rowwise(input R, out S(0))    |
// | norm                                  |                           | SequenceParallel()            |
// | layers.*.attention                    |                           | PMI(S(1) -> R)                |
// | layers.*.attention_norm, ffn_norm     |                           | SequenceParallel()            |
// | layers.*.attention.wq, wk, wv         | Colwise(local_output_for_attn)  | same                    |
// | layers.*.attention.wo                 | Rowwise()                 | Rowwise(out S(1))             |
// | layers.*.feed_forward.w1              | Colwise()                 | Colwise(input S(1))           |
// | layers.*.feed_forward.w2              | Rowwise()                 | Rowwise(out S(1))             |
// | output                                | Colwise(out R)            | Colwise(input S(1), out R)    |
//
// One deliberate difference from PyTorch's plan: with sequence parallel the Rowwise layers that
// feed the residual stream return DTensors (use_local_output false), so that dropout on the
// stream is single-device-exact; the counts are unchanged. With local_output_for_attn the
// attention dropout sees local heads and is not single-device-exact (use it without dropout).
//
// With loss_parallel the output stays sharded on the vocab dim: Colwise(out S(-1),
// use_local_output false), for cross_entropy under loss_parallel().
// Counts per step (2 layers, W = 4): forward {all_reduce 6, all_gather 1}, backward
// {all_reduce 9} without sequence parallel; forward {reduce_scatter 6, all_gather 6}, backward
// {reduce_scatter 5, all_gather 6} with it (plus one all_reduce per Partial norm gradient in the
// optimizer step).
#include "core/nn/transformer.h"
#include "styles/parallelize_module.h"

namespace tensorpar {

struct TransformerPlanOptions {
  bool sequence_parallel = false;
  // Attention projections return local tensors (PyTorch's tests use it for float64); the
  // attention then sees the local head count.
  bool local_output_for_attn = false;
  bool loss_parallel = false;
};

ParallelizePlan transformer_tp_plan(const TransformerPlanOptions& options = {});

// Applies transformer_tp_plan and keeps output.weight tied to tok_embeddings.weight when the
// model ties them.
void parallelize_transformer(nn::Transformer& model, const DeviceMesh& mesh,
                             const TransformerPlanOptions& options = {});

}  // namespace tensorpar
