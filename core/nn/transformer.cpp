#include "core/nn/transformer.h"

#include "core/base/error.h"

namespace tensorpar::nn {

// ---- Attention ----

Attention::Attention(const ModelArgs& args, Generator& gen)
    : dropout_p_(args.dropout_p), use_attn_mask_(args.use_attn_mask) {
  check_arg(args.n_heads > 0 && args.dim % args.n_heads == 0, "Attention: dim ", args.dim,
            " is not divisible by n_heads ", args.n_heads);
  head_dim_ = args.dim / args.n_heads;
  wq = register_module("wq", std::make_shared<Linear>(args.dim, args.dim, false, gen, args.dtype));
  wk = register_module("wk", std::make_shared<Linear>(args.dim, args.dim, false, gen, args.dtype));
  wv = register_module("wv", std::make_shared<Linear>(args.dim, args.dim, false, gen, args.dtype));
  wo = register_module("wo", std::make_shared<Linear>(args.dim, args.dim, false, gen, args.dtype));
  resid_dropout = register_module("resid_dropout", std::make_shared<Dropout>(args.dropout_p));
}

std::vector<Tensor> Attention::forward(const ModuleInputs& inputs) {
  const Tensor& x = single_input(inputs);
  // (b, s, heads * head_dim) -> (b, heads, s, head_dim); heads is whatever the projection
  // returned (all heads, or this rank's share under a colwise plan with local outputs).
  auto split_heads = [&](const Tensor& proj) {
    check_arg(proj.dim() == 3 && proj.size(-1) % head_dim_ == 0,
              "Attention.forward: a projection of shape ", shape_str(proj.shape()),
              " does not split into (batch, seq, heads, head_dim ", head_dim_, ")");
    const std::int64_t heads = proj.size(-1) / head_dim_;
    return transpose(reshape(proj, {proj.size(0), proj.size(1), heads, head_dim_}), 1, 2);
  };
  const Tensor xq = (*wq)(x);
  const Tensor q = split_heads(xq);
  const Tensor k = split_heads((*wk)(x));
  const Tensor v = split_heads((*wv)(x));

  AttentionOptions options;
  options.is_causal = use_attn_mask_;
  options.dropout_p = is_training() ? dropout_p_ : 0.0;
  const Tensor attn = scaled_dot_product_attention(q, k, v, options);
  // (b, heads, s, head_dim) -> (b, s, heads * head_dim)
  const Tensor merged = reshape(transpose(attn, 1, 2), {xq.size(0), xq.size(1), -1});
  return {(*resid_dropout)((*wo)(merged))};
}

// ---- FeedForward ----

FeedForward::FeedForward(std::int64_t dim, std::int64_t hidden_dim, double dropout_p,
                         Generator& gen, DType dtype) {
  w1 = register_module("w1", std::make_shared<Linear>(dim, hidden_dim, true, gen, dtype));
  gelu = register_module("gelu", std::make_shared<GELU>());
  w2 = register_module("w2", std::make_shared<Linear>(hidden_dim, dim, true, gen, dtype));
  resid_dropout = register_module("resid_dropout", std::make_shared<Dropout>(dropout_p));
}

std::vector<Tensor> FeedForward::forward(const ModuleInputs& inputs) {
  return {(*resid_dropout)((*w2)((*gelu)((*w1)(single_input(inputs)))))};
}

// ---- TransformerBlock ----

TransformerBlock::TransformerBlock(const ModelArgs& args, Generator& gen) {
  attention_norm = register_module("attention_norm",
                                   std::make_shared<LayerNorm>(args.dim, 1e-5, true, args.dtype));
  attention = register_module("attention", std::make_shared<Attention>(args, gen));
  ffn_norm =
      register_module("ffn_norm", std::make_shared<LayerNorm>(args.dim, 1e-5, true, args.dtype));
  feed_forward = register_module(
      "feed_forward",
      std::make_shared<FeedForward>(args.dim, 4 * args.dim, args.dropout_p, gen, args.dtype));
}

std::vector<Tensor> TransformerBlock::forward(const ModuleInputs& inputs) {
  const Tensor& x = single_input(inputs);
  const Tensor h = x + (*attention)((*attention_norm)(x));
  return {h + (*feed_forward)((*ffn_norm)(h))};
}

// ---- Transformer ----

Transformer::Transformer(const ModelArgs& args) : args_(args) {
  check_arg(args.n_layers >= 0, "Transformer: n_layers must be non-negative, got ", args.n_layers);
  check_arg(args.dropout_p >= 0 && args.dropout_p <= 1,
            "Transformer: dropout_p must be in [0, 1], got ", args.dropout_p);
  Generator gen(args.seed);
  tok_embeddings = register_module(
      "tok_embeddings", std::make_shared<Embedding>(args.vocab_size, args.dim, gen, args.dtype));
  pos_embeddings = register_module(
      "pos_embeddings", std::make_shared<Embedding>(args.max_seq_len, args.dim, gen, args.dtype));
  dropout = register_module("dropout", std::make_shared<Dropout>(args.dropout_p));
  layers = register_module("layers", std::make_shared<ModuleList>());
  for (std::int64_t i = 0; i < args.n_layers; ++i) {
    layers->push_back(std::make_shared<TransformerBlock>(args, gen));
  }
  norm = register_module("norm", std::make_shared<LayerNorm>(args.dim, 1e-5, true, args.dtype));
  // Drawn even when tied, as PyTorch does, so tied and untied models share their other weights.
  output = register_module(
      "output", std::make_shared<Linear>(args.dim, args.vocab_size, false, gen, args.dtype));
  if (args.weight_tying) tie_weights();
}

void Transformer::tie_weights() {
  output->set_parameter("weight", tok_embeddings->parameter("weight"));
}

std::vector<Tensor> Transformer::forward(const ModuleInputs& inputs) {
  const Tensor& tokens = single_input(inputs);
  check_arg(tokens.dim() == 2 && tokens.dtype() == DType::Int64,
            "Transformer.forward: tokens must be an Int64 [batch, seq] tensor, got ", tokens.dim(),
            "-d ", dtype_name(tokens.dtype()));
  const std::int64_t seq = tokens.size(1);
  check_arg(seq <= args_.max_seq_len, "Transformer.forward: sequence length ", seq,
            " exceeds max_seq_len ", args_.max_seq_len);
  const Tensor positions = arange(seq, DType::Int64, tokens.device());
  Tensor h = (*tok_embeddings)(tokens) + (*pos_embeddings)(positions);
  h = (*dropout)(h);
  for (const auto& layer : *layers) h = (*layer)(h);
  h = (*norm)(h);
  Tensor logits = (*output)(h);
  // PyTorch's reference casts the logits to float; only a bfloat16 model changes here (a
  // float64 model keeps float64 logits so f64 comparisons stay exact).
  if (logits.dtype() == DType::BFloat16) logits = to_dtype(logits, DType::Float32);
  return {logits};
}

}  // namespace tensorpar::nn
