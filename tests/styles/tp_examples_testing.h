#pragma once
// Shared by the test_tp_examples suites (PyTorch's test_tp_examples.py): comparison of a
// parallelized model with the same model run on one device, integer token batches, and the
// reference Transformer's shapes for each world size.
//
// Comparisons run on every rank in the same order: whole() of a DTensor is collective
// (full_tensor, which also reduces a Partial gradient), so it is called whether or not an
// earlier expectation failed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/nn/module.h"
#include "core/nn/transformer.h"

namespace tensorpar::tp_examples {

// counts_by_name() of one phase, as PyTorch's tests compare them with assertDictEqual.
using Counts = std::map<std::string, std::int64_t>;

// torch.randint(high, shape): integers in [0, high) from gen's uniform stream.
inline Tensor randint(std::int64_t high, const Shape& shape, Generator& gen) {
  const std::vector<double> u = to_vector<double>(rand(shape, gen, DType::Float64));
  std::vector<std::int64_t> v(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) {
    v[i] = std::min(high - 1, static_cast<std::int64_t>(std::floor(u[i] * double(high))));
  }
  return from_vector<std::int64_t>(v, shape);
}

// The whole value: a plain tensor as is, a DTensor gathered (and reduced if Partial).
inline Tensor whole(const Tensor& t) {
  if (!t.is_distributed()) return t.detach();
  NoGradGuard no_grad;
  return DTensor(t).full_tensor();
}

// Relative to the largest |expected|: 1e-10 in float64, 1e-4 in float32.
inline double tolerance(DType dtype) { return dtype == DType::Float64 ? 1e-10 : 1e-4; }

// |actual - expected| <= tolerance * max|expected| element-wise; both must be whole tensors.
inline void expect_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  EXPECT_EQ(actual.dtype(), expected.dtype()) << what;
  const std::vector<double> a = to_vector<double>(actual), e = to_vector<double>(expected);
  double scale = 0, worst = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    scale = std::max(scale, std::abs(e[i]));
    worst = std::max(worst, std::abs(a[i] - e[i]));
  }
  EXPECT_LE(worst, tolerance(expected.dtype()) * scale)
      << what << ": largest difference " << worst << " against max |expected| " << scale;
}

// A parallel value (plain or DTensor) against the single-device one.
inline void expect_same(const Tensor& parallel, const Tensor& single, const std::string& what) {
  expect_close(whole(parallel), single, what);
}

// Both models list the same parameters (names in order) with equal values.
inline void expect_parameters_match(nn::Module& parallel, nn::Module& single,
                                    const std::string& when) {
  const auto p = parallel.named_parameters(), s = single.named_parameters();
  ASSERT_EQ(p.size(), s.size()) << when;
  for (std::size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].first, s[i].first) << when;
    expect_same(p[i].second, s[i].second, when + ": parameter " + s[i].first);
  }
}

// Each gradient equals the single-device one; a parameter without a gradient on one device has
// none in parallel either.
inline void expect_grads_match(nn::Module& parallel, nn::Module& single, const std::string& when) {
  const auto p = parallel.named_parameters(), s = single.named_parameters();
  ASSERT_EQ(p.size(), s.size()) << when;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const Tensor expected = s[i].second.grad();
    const Tensor actual = p[i].second.grad();
    ASSERT_EQ(actual.defined(), expected.defined()) << when << ": grad of " << s[i].first;
    if (expected.defined()) expect_same(actual, expected, when + ": grad of " + s[i].first);
  }
}

// ---- the reference Transformer ----

// PyTorch's ModelArgs (vocab 8, dim 16, 4 heads) where the world size divides them; for
// multiples of 3: vocab 12, dim 24, 6 heads, so that vocab, dim, heads, the FFN width (4·dim)
// and the sequence are split evenly and the counts stay PyTorch's. max_seq_len stays 16, so
// pos_embeddings' rows are split unevenly (6, 6, 4 on 3 ranks).
inline nn::ModelArgs transformer_args(int world, DType dtype) {
  nn::ModelArgs args;
  args.dropout_p = 0.0;
  args.dtype = dtype;
  if (world % 3 == 0) {
    args.vocab_size = 12;
    args.dim = 24;
    args.n_heads = 6;
  }
  return args;
}
// Token batches are [8, seq]: 8 as in PyTorch, 6 where the sequence must split in 3.
inline std::int64_t transformer_seq(int world) { return world % 3 == 0 ? 6 : 8; }
inline constexpr std::int64_t kTransformerBatch = 8;

// The parameters held by SequenceParallel norms: their gradients are Partial.
inline bool is_norm_parameter(const std::string& name) {
  return name.find("norm.") != std::string::npos;
}

// The reference plan's collectives in one training step of the 2-layer Transformer (the same
// for every world size that splits the shapes evenly; table in test_tp_examples_transformer.cpp).
inline Counts forward_counts(bool sequence_parallel) {
  if (!sequence_parallel) return {{"all_reduce", 6}, {"all_gather", 1}};
  return {{"reduce_scatter", 6}, {"all_gather", 6}};
}
inline Counts backward_counts(bool sequence_parallel) {
  if (!sequence_parallel) return {{"all_reduce", 9}};
  return {{"reduce_scatter", 5}, {"all_gather", 6}};
}

// The Partial gradients of a sequence-parallel step: every trainable norm parameter.
struct PartialGrads {
  std::int64_t count = 0;
  std::int64_t bytes = 0;
};
inline PartialGrads partial_grads(nn::Module& model, bool sequence_parallel) {
  PartialGrads p;
  if (!sequence_parallel) return p;
  for (const auto& [name, param] : model.named_parameters()) {
    if (!is_norm_parameter(name) || !param.requires_grad()) continue;
    ++p.count;
    p.bytes += param.numel() * static_cast<std::int64_t>(dtype_size(param.dtype()));
  }
  return p;
}

// The optimizer step reduces every Partial gradient once: only all_reduces, at most one per
// gradient (fewer when bucketed), carrying exactly those gradients' bytes.
inline void expect_optimizer_reduces(const CommDebugMode& mode, const PartialGrads& partial,
                                     const std::string& what) {
  const Counts counts = mode.counts_by_name(CommPhase::Optimizer);
  if (partial.count == 0) {
    EXPECT_EQ(counts, Counts{}) << what;
    return;
  }
  ASSERT_EQ(counts.size(), 1u) << what;
  EXPECT_EQ(counts.begin()->first, "all_reduce") << what;
  EXPECT_GE(counts.begin()->second, 1) << what;
  EXPECT_LE(counts.begin()->second, partial.count) << what;
  EXPECT_EQ(mode.bytes(CommPhase::Optimizer), partial.bytes) << what;
}

}  // namespace tensorpar::tp_examples
