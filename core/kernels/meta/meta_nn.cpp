// The meta backend's matrix products, softmax, norms, embedding, losses, random blocks, attention
// masks and optimizer updates. FLOPs: 2mkn per GEMM of m x k by k x n (linear's bias adds one per
// output element); per element 5 for softmax and log_softmax (max, subtract, exp, sum, divide)
// and 4 for their backward; 8 for layer_norm and 12 for its backward, 5 and 8 for rms_norm;
// 2 per logit for the loss backward and 1 per position for its forward; an SGD step 4 per
// element (6 with momentum), an Adam step 12; 0 for lookups, masks and random draws.
#include "core/base/error.h"
#include "core/kernels/common.h"
#include "core/kernels/meta/meta_backend.h"
#include "core/kernels/meta/meta_common.h"
#include "core/kernels/softmax.h"

namespace tensorpar::kernels {

using meta::bytes_of;
using meta::note;
using meta::note_in_place;

namespace {

// x.shape without the last dim: the shape of the norms' per-row statistics.
Shape stats_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 1); }

// A loss's output for `reduction`: the target's shape for none, 0-d otherwise.
CrossEntropyResult loss_result(const Tensor& log_probs, const Tensor& target, Reduction reduction) {
  const Shape shape = reduction == Reduction::None ? target.shape() : Shape{};
  return {Tensor::empty(shape, log_probs.dtype(), log_probs.device()), log_probs,
          Tensor::empty({}, log_probs.dtype(), log_probs.device())};
}

}  // namespace

Tensor MetaBackend::matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const MatmulDims d = matmul_dims(a.shape(), b.shape(), trans_a, trans_b);
  Tensor out = Tensor::empty(d.shape, a.dtype(), a.device());
  note("matmul", "", 2 * d.batches * d.m * d.n * d.k, bytes_of({&a, &b}), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const std::int64_t rows = leading_rows(x.shape()), in = w.shape()[1], out_features = w.shape()[0];
  Shape shape = x.shape();
  shape.back() = out_features;
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  const std::int64_t flops = 2 * rows * in * out_features + (bias.defined() ? y.numel() : 0);
  note("linear", "", flops, bytes_of({&x, &w, &bias}), bytes_of(y), y);
  return y;
}

LinearGrads MetaBackend::linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w,
                                         bool need_x, bool need_w, bool need_bias) {
  const std::int64_t rows = leading_rows(x.shape()), in = w.shape()[1], out_features = w.shape()[0];
  LinearGrads grads;
  std::int64_t flops = 0, read = bytes_of(grad);
  if (need_x) {
    grads.x = Tensor::empty(x.shape(), x.dtype(), x.device());
    flops += 2 * rows * in * out_features;
    read += bytes_of(w);
  }
  if (need_w) {
    grads.w = Tensor::empty(w.shape(), w.dtype(), w.device());
    flops += 2 * rows * in * out_features;
    read += bytes_of(x);
  }
  if (need_bias) {  // the sum of grad over every dim but the last
    grads.bias = Tensor::empty({grad.shape().back()}, grad.dtype(), grad.device());
    flops += grad.numel();
  }
  const Tensor& first = need_x ? grads.x : (need_w ? grads.w : grads.bias);
  if (first.defined()) {
    note("linear_backward", "", flops, read, bytes_of({&grads.x, &grads.w, &grads.bias}), first);
  }
  return grads;
}

Tensor MetaBackend::softmax(const Tensor& x, std::int64_t) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  note("softmax", "", 5 * y.numel(), bytes_of(x), bytes_of(y), y);
  return y;
}

Tensor MetaBackend::softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t) {
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  note("softmax_backward", "", 4 * dx.numel(), bytes_of({&grad, &y}), bytes_of(dx), dx);
  return dx;
}

Tensor MetaBackend::log_softmax(const Tensor& x, std::int64_t) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  note("log_softmax", "", 5 * y.numel(), bytes_of(x), bytes_of(y), y);
  return y;
}

Tensor MetaBackend::log_softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t) {
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  note("log_softmax_backward", "", 4 * dx.numel(), bytes_of({&grad, &y}), bytes_of(dx), dx);
  return dx;
}

NormResult MetaBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                   double) {
  NormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()),
               Tensor::empty(stats_shape(x), x.dtype(), x.device()),
               Tensor::empty(stats_shape(x), x.dtype(), x.device())};
  note("layer_norm", "", 8 * x.numel(), bytes_of({&x, &weight, &bias}),
       bytes_of({&r.y, &r.mean, &r.rstd}), r.y);
  return r;
}

NormGrads MetaBackend::layer_norm_backward(const Tensor& grad, const Tensor& x,
                                           const Tensor& weight, const Tensor& mean,
                                           const Tensor& rstd, bool need_weight, bool need_bias) {
  const std::int64_t D = x.size(-1);
  NormGrads grads{Tensor::empty(x.shape(), x.dtype(), x.device())};
  if (need_weight) grads.weight = Tensor::empty({D}, x.dtype(), x.device());
  if (need_bias) grads.bias = Tensor::empty({D}, x.dtype(), x.device());
  note("layer_norm_backward", "", 12 * x.numel(), bytes_of({&grad, &x, &weight, &mean, &rstd}),
       bytes_of({&grads.x, &grads.weight, &grads.bias}), grads.x);
  return grads;
}

NormResult MetaBackend::rms_norm(const Tensor& x, const Tensor& weight, double) {
  NormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor(),
               Tensor::empty(stats_shape(x), x.dtype(), x.device())};
  note("rms_norm", "", 5 * x.numel(), bytes_of({&x, &weight}), bytes_of({&r.y, &r.rstd}), r.y);
  return r;
}

NormGrads MetaBackend::rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                         const Tensor& rstd, bool need_weight) {
  NormGrads grads{Tensor::empty(x.shape(), x.dtype(), x.device())};
  if (need_weight) grads.weight = Tensor::empty({x.size(-1)}, x.dtype(), x.device());
  note("rms_norm_backward", "", 8 * x.numel(), bytes_of({&grad, &x, &weight, &rstd}),
       bytes_of({&grads.x, &grads.weight}), grads.x);
  return grads;
}

// A lookup reads the indices and the rows it gathers, not the whole table.
Tensor MetaBackend::embedding(const Tensor& weight, const Tensor& indices, std::int64_t,
                              std::int64_t) {
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  Tensor out = Tensor::empty(out_shape, weight.dtype(), weight.device());
  note("embedding", "", 0, bytes_of(indices) + bytes_of(out), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::embedding_backward(const Tensor& grad, const Tensor& indices,
                                       std::int64_t local_rows, std::int64_t) {
  Tensor out = Tensor::empty({local_rows, grad.size(-1)}, grad.dtype(), grad.device());
  note("embedding_backward", "", grad.numel(), bytes_of({&grad, &indices}), bytes_of(out), out);
  return out;
}

CrossEntropyResult MetaBackend::cross_entropy(const Tensor& logits, const Tensor& target,
                                              const Tensor& weight, std::int64_t,
                                              Reduction reduction) {
  // As on every device: log_softmax over the classes (its own kernel call), then the loss.
  const Tensor log_probs = kernels::log_softmax(logits, logits.dim() == 1 ? 0 : 1);
  CrossEntropyResult r = loss_result(log_probs, target, reduction);
  note("cross_entropy", reduction_name(reduction), target.numel(),
       bytes_of({&target, &weight}) + target.numel() * std::int64_t(dtype_size(logits.dtype())),
       bytes_of({&r.loss, &r.total_weight}), r.loss);
  return r;
}

CrossEntropyResult MetaBackend::nll_loss(const Tensor& log_probs, const Tensor& target,
                                         const Tensor& weight, std::int64_t, Reduction reduction) {
  CrossEntropyResult r = loss_result(log_probs, target, reduction);
  note("nll_loss", reduction_name(reduction), target.numel(),
       bytes_of({&target, &weight}) + target.numel() * std::int64_t(dtype_size(log_probs.dtype())),
       bytes_of({&r.loss, &r.total_weight}), r.loss);
  return r;
}

Tensor MetaBackend::cross_entropy_backward(const Tensor& grad, const Tensor& log_probs,
                                           const Tensor& target, const Tensor& weight, std::int64_t,
                                           Reduction reduction, const Tensor& total_weight) {
  Tensor dx = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
  note("cross_entropy_backward", reduction_name(reduction), 2 * dx.numel(),
       bytes_of({&grad, &log_probs, &target, &weight, &total_weight}), bytes_of(dx), dx);
  return dx;
}

Tensor MetaBackend::nll_loss_backward(const Tensor& grad, const Tensor& target,
                                      const Tensor& weight, std::int64_t, Reduction reduction,
                                      const Tensor& total_weight, const Shape& input_shape,
                                      DType dtype) {
  Tensor dx = Tensor::empty(input_shape, dtype, target.device());
  note("nll_loss_backward", reduction_name(reduction), target.numel(),
       bytes_of({&grad, &target, &weight, &total_weight}), bytes_of(dx), dx);
  return dx;
}

Tensor MetaBackend::gather_class(const Tensor& values, const Tensor& target, std::int64_t,
                                 std::int64_t, std::int64_t, const char*) {
  Tensor picked = Tensor::empty(target.shape(), values.dtype(), values.device());
  note("gather_class", "", 0, bytes_of(target) + bytes_of(picked), bytes_of(picked), picked);
  return picked;
}

Tensor MetaBackend::class_weights(const Tensor& target, const Tensor& weight, std::int64_t,
                                  std::int64_t, DType dtype, const char*) {
  Tensor w = Tensor::empty(target.shape(), dtype, target.device());
  note("class_weights", "", 0, bytes_of({&target, &weight}), bytes_of(w), w);
  return w;
}

void MetaBackend::scatter_class_add_(Tensor& out, const Tensor& target, const Tensor& src,
                                     std::int64_t, std::int64_t) {
  note("scatter_class_add_", "", src.numel(), bytes_of({&target, &src}), bytes_of(src), out);
}

Tensor MetaBackend::uniform_block(const Shape& local_shape, DType dtype, Device device,
                                  std::uint64_t, std::uint64_t, const GlobalBlock&) {
  Tensor out = Tensor::empty(local_shape, dtype, device);
  note("uniform_block", "", 0, 0, bytes_of(out), out);
  return out;
}

Tensor MetaBackend::normal_block(const Shape& local_shape, DType dtype, Device device,
                                 std::uint64_t, std::uint64_t, const GlobalBlock&) {
  Tensor out = Tensor::empty(local_shape, dtype, device);
  note("normal_block", "", 0, 0, bytes_of(out), out);
  return out;
}

Tensor MetaBackend::dropout_mask(const Shape& local_shape, DType dtype, Device device, double,
                                 std::uint64_t, std::uint64_t, const GlobalBlock&) {
  Tensor out = Tensor::empty(local_shape, dtype, device);
  note("dropout_mask", "", 0, 0, bytes_of(out), out);
  return out;
}

void MetaBackend::causal_mask_(Tensor& scores) { note_in_place("causal_mask_", "", scores, 0, 0); }

void MetaBackend::causal_mask_backward_(Tensor& grad) {
  note_in_place("causal_mask_backward_", "", grad, 0, 0);
}

void MetaBackend::sgd_update_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool,
                              const SgdHyper&) {
  const bool momentum = momentum_buffer.defined();
  note("sgd_update_", "", (momentum ? 6 : 4) * param.numel(),
       bytes_of({&param, &grad, &momentum_buffer}), bytes_of({&param, &momentum_buffer}), param);
}

void MetaBackend::adam_update_(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                               Tensor& exp_avg_sq, Tensor& max_exp_avg_sq, const AdamHyper&) {
  note("adam_update_", "", 12 * param.numel(),
       bytes_of({&param, &grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq}),
       bytes_of({&param, &exp_avg, &exp_avg_sq, &max_exp_avg_sq}), param);
}

}  // namespace tensorpar::kernels
