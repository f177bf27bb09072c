#pragma once
// The reference Transformer of PyTorch's TP tests (common_dtensor.py), with the same module
// names, so the same parallelize plans apply:
//
//   tok_embeddings, pos_embeddings, dropout,
//   layers.{i}.attention_norm, layers.{i}.attention.{wq,wk,wv,wo,resid_dropout},
//   layers.{i}.ffn_norm, layers.{i}.feed_forward.{w1,gelu,w2,resid_dropout}, norm, output
//
//   ModelArgs args;  args.vocab_size = 16;  args.seed = 3;
//   Transformer model(args);
//   Tensor logits = model(tokens);          // tokens Int64 [b, s] -> [b, s, vocab]
//
// Attention derives the number of heads from its projections at run time (size(-1) / head_dim),
// so a colwise-sharded wq/wk/wv that returns only this rank's heads (use_local_output) works
// unchanged.
#include <cstdint>
#include <memory>

#include "core/nn/layers.h"

namespace tensorpar::nn {

struct ModelArgs {
  std::int64_t n_layers = 2;
  std::int64_t vocab_size = 8;
  std::int64_t max_seq_len = 16;
  std::int64_t dim = 16;
  std::int64_t n_heads = 4;
  double dropout_p = 0.1;
  bool use_attn_mask = true;  // causal attention
  bool weight_tying = true;   // output.weight is tok_embeddings.weight
  std::uint64_t seed = 0;     // every parameter is drawn from Generator(seed)
  DType dtype = DType::Float32;
};

class Attention : public Module {
 public:
  Attention(const ModelArgs& args, Generator& gen);
  std::string type_name() const override { return "Attention"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  std::int64_t head_dim() const { return head_dim_; }

  std::shared_ptr<Linear> wq, wk, wv, wo;
  std::shared_ptr<Dropout> resid_dropout;

 private:
  std::int64_t head_dim_;
  double dropout_p_;
  bool use_attn_mask_;
};

class FeedForward : public Module {
 public:
  FeedForward(std::int64_t dim, std::int64_t hidden_dim, double dropout_p, Generator& gen,
              DType dtype);
  std::string type_name() const override { return "FeedForward"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;

  std::shared_ptr<Linear> w1;
  std::shared_ptr<GELU> gelu;
  std::shared_ptr<Linear> w2;
  std::shared_ptr<Dropout> resid_dropout;
};

// h = x + attention(attention_norm(x)); out = h + feed_forward(ffn_norm(h)).
class TransformerBlock : public Module {
 public:
  TransformerBlock(const ModelArgs& args, Generator& gen);
  std::string type_name() const override { return "TransformerBlock"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;

  std::shared_ptr<LayerNorm> attention_norm;
  std::shared_ptr<Attention> attention;
  std::shared_ptr<LayerNorm> ffn_norm;
  std::shared_ptr<FeedForward> feed_forward;
};

class Transformer : public Module {
 public:
  explicit Transformer(const ModelArgs& args = {});
  std::string type_name() const override { return "Transformer"; }
  // tokens Int64 [b, s] with s <= max_seq_len -> logits [b, s, vocab_size] (in args.dtype).
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  const ModelArgs& args() const { return args_; }
  // Points output.weight at tok_embeddings.weight again (after a style replaced either one).
  void tie_weights();

  std::shared_ptr<Embedding> tok_embeddings;
  std::shared_ptr<Embedding> pos_embeddings;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Linear> output;

 private:
  ModelArgs args_;
};

}  // namespace tensorpar::nn
