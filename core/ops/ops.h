#pragma once
// The differentiable operations. Each one takes plain tensors or DTensors (a DTensor is a
// Tensor), runs the CPU kernel on the local data, follows the op's sharding rule on DTensors
// (ops/sharding.h) and is recorded by autograd when an input requires grad.
//
//   Tensor h = gelu(linear(x, w1, b1));                 // plain or sharded, same code
//   Tensor loss = cross_entropy(logits, target);       // {.ignore_index = -100, .reduction = Mean}
//   loss.backward();
//
// Element-wise binary ops broadcast as numpy does ([4, 3] + [3] adds a row to every row).
// Errors name the op, the argument and the values.
#include <cstdint>
#include <optional>
#include <vector>

#include "core/kernels/reduction.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

class Generator;

// ---- element-wise arithmetic (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor sub(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor div(const Tensor& a, double s);
Tensor rsub(double s, const Tensor& a);  // s - a
Tensor rdiv(double s, const Tensor& a);  // s / a
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- element-wise functions ----
Tensor relu(const Tensor& x);
// GELU: exact (erf) by default; approximate = "tanh" as in torch.nn.functional.gelu.
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor silu(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);

// ---- linear algebra ----
// a @ b over the last two dims, batched over leading dims (equal, or one operand 2-D).
Tensor matmul(const Tensor& a, const Tensor& b);
// x @ wᵀ + bias: x (..., in), w (out, in), bias (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());

// ---- reductions ----
// Over all elements: a 0-d tensor.
Tensor sum(const Tensor& t);
Tensor mean(const Tensor& t);
Tensor max(const Tensor& t);  // throws on an empty tensor
Tensor min(const Tensor& t);  // not differentiable; throws on an empty tensor
Tensor prod(const Tensor& t); // not differentiable
// Along dims (negative dims count from the end).
Tensor sum(const Tensor& t, std::int64_t dim, bool keepdim = false);
Tensor sum(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& t, std::int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor max(const Tensor& t, std::int64_t dim, bool keepdim = false);  // values (first maximum)
Tensor min(const Tensor& t, std::int64_t dim, bool keepdim = false);  // not differentiable
Tensor prod(const Tensor& t, std::int64_t dim, bool keepdim = false); // not differentiable

// ---- shape ----
// Same elements, another shape (one extent may be -1). On a DTensor a sharded dim survives when
// it stays whole or is the outer part of a split; otherwise the input is replicated first.
Tensor reshape(const Tensor& x, const Shape& shape);
inline Tensor view(const Tensor& x, const Shape& shape) { return reshape(x, shape); }
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
Tensor clone(const Tensor& x);
Tensor to_dtype(const Tensor& x, DType dtype);

// ---- neural-network functions ----
Tensor softmax(const Tensor& x, std::int64_t dim);
Tensor log_softmax(const Tensor& x, std::int64_t dim);
// Normalisation over the last dim; weight/bias [D] or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight = Tensor(), double eps = 1e-6);
// Rows of weight (num_embeddings, dim) picked by Int64 indices: indices.shape + [dim].
Tensor embedding(const Tensor& weight, const Tensor& indices);
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training. The
// element at global index g draws the Philox value at counter gen.offset() + g, so a sharded
// dropout equals the single-device one; the generator advances by the global numel (rounded
// up to a multiple of 4) on every rank. gen defaults to the rank's default_generator().
Tensor dropout(const Tensor& x, double p, bool training = true, Generator* gen = nullptr);

struct AttentionOptions {
  bool is_causal = false;
  double dropout_p = 0.0;
  std::optional<double> scale;  // default 1/sqrt(head_dim)
  Generator* generator = nullptr;
};
// softmax(q kᵀ · scale [+ causal mask]) v over (..., seq, head_dim) inputs (composed from the
// ops above, so it is sharded along heads and batch like them).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options = {});

using kernels::Reduction;
struct CrossEntropyOptions {
  Tensor weight;  // class weights [C] or undefined
  std::int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};
// logits (N, C) or (N, C, d...) with classes on dim 1; target Int64 (N) or (N, d...).
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options = {});
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                const CrossEntropyOptions& options = {});

// ---- randomness ----
// The rank context's generator (each sim rank is a thread with its own context; a helper thread
// handed the context draws from it): seeded 0 until manual_seed.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace tensorpar
