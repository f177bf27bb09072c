#include "core/cost/memory_model.h"

#include <stdexcept>
#include <string>

namespace tensorpar::cost {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

void check(const ModelShape& m, const ParallelConfig& p) {
  auto positive = [](const char* name, std::int64_t v) {
    if (v < 1) {
      throw std::invalid_argument(std::string("memory model: ") + name + " must be >= 1, got " +
                                  std::to_string(v));
    }
  };
  positive("layers", m.layers);
  positive("hidden", m.hidden);
  positive("heads", m.heads);
  positive("seq", m.seq);
  positive("vocab", m.vocab);
  positive("tp", p.tp);
  positive("micro_batch", p.micro_batch);
}

// Rank 0's local parameters under the TP plan (torch.chunk shards: rank 0 holds ceil(n / t)).
double local_parameters(const ModelShape& m, int tp) {
  const std::int64_t h = m.hidden, t = tp;
  const std::int64_t embeddings = ceil_div(m.vocab, t) * h + ceil_div(m.seq, t) * h;
  const std::int64_t attention = 4 * h * ceil_div(h, t);
  const std::int64_t feed_forward = 2 * h * ceil_div(4 * h, t) + ceil_div(4 * h, t) + h;
  const std::int64_t norms = 4 * h;
  return double(embeddings + m.layers * (attention + feed_forward + norms) + 2 * h);
}

// Korthikanti's per-layer bytes (16-bit) of one micro-batch without recompute.
double full_layer_bytes(const ModelShape& m, const ParallelConfig& p) {
  const double s = m.seq, b = p.micro_batch, h = m.hidden, a = m.heads, t = p.tp;
  if (p.sequence_parallel) return s * b * h * (34 + 5 * a * s / h) / t;
  return s * b * h * (10 + 24 / t + 5 * a * s / (h * t));
}

}  // namespace

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::None:
      return "none";
    case Recompute::Selective:
      return "selective";
    case Recompute::Full:
      return "full";
  }
  return "none";
}

std::int64_t ModelShape::parameters() const {
  // tok_embeddings V h, pos_embeddings s h; per layer wq, wk, wv, wo 4 h^2 (no bias), w1 and w2
  // 8 h^2 + 4h + h (biases), two LayerNorms 4h; the final norm 2h; output tied to tok_embeddings.
  return vocab * hidden + seq * hidden + layers * (12 * hidden * hidden + 9 * hidden) + 2 * hidden;
}

double activation_bytes_per_layer(const ModelShape& model, const ParallelConfig& plan) {
  check(model, plan);
  const double s = model.seq, b = plan.micro_batch, h = model.hidden, t = plan.tp;
  const double scale = double(dtype_size(plan.dtype)) / 2;
  double bytes = 0;
  switch (plan.recompute) {
    case Recompute::None:
      bytes = full_layer_bytes(model, plan);
      break;
    case Recompute::Selective:
      // The attention's s^2 terms (scores, softmax, its dropout mask) are recomputed.
      bytes = plan.sequence_parallel ? 34 * s * b * h / t : s * b * h * (10 + 24 / t);
      break;
    case Recompute::Full:
      bytes = 2 * s * b * h / (plan.sequence_parallel ? t : 1);
      break;
  }
  return bytes * scale;
}

MemoryBreakdown memory_per_gpu(const ModelShape& model, const ParallelConfig& plan) {
  check(model, plan);
  const double parameters = local_parameters(model, plan.tp);
  const double element = double(dtype_size(plan.dtype));
  const double gradient_element =
      plan.gradient_element_bytes > 0 ? plan.gradient_element_bytes : element;
  const bool mixed = plan.dtype == DType::BFloat16;
  MemoryBreakdown m;
  m.parameters = parameters * element;
  m.gradients = parameters * gradient_element;
  m.optimizer = parameters * (mixed ? 12 : 2 * element);

  const double s = model.seq, b = plan.micro_batch, h = model.hidden, t = plan.tp;
  double layers = double(model.layers) * activation_bytes_per_layer(model, plan);
  if (plan.recompute == Recompute::Full) {
    layers += full_layer_bytes(model, plan) * element / 2;  // the layer being recomputed
  }
  const double embedding_output = s * b * h * element / (plan.sequence_parallel ? t : 1);
  const double logits = b * s * double(ceil_div(model.vocab, plan.tp)) * (element + 4);
  m.activations = layers + embedding_output + logits;
  return m;
}

}  // namespace tensorpar::cost
