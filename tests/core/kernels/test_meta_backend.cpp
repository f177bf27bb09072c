// The meta kernel backend: every entry gives the CPU backend's output shapes and dtypes, on the
// meta device, without touching memory, and records its FLOPs and bytes. One table row per entry
// runs the public kernel function on CPU tensors and on the same tensors moved to meta.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/kernels/attention.h"
#include "core/kernels/layout.h"
#include "core/kernels/meta/meta_backend.h"
#include "core/kernels/meta/op_record.h"
#include "core/kernels/softmax.h"
#include "core/tensor/meta_device.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using kernels::BinaryOp;
using kernels::CrossEntropyResult;
using kernels::GlobalBlock;
using kernels::LinearGrads;
using kernels::MaxResult;
using kernels::NormGrads;
using kernels::NormResult;
using kernels::OpRecord;
using kernels::OpRecorder;
using kernels::Reduction;
using kernels::UnaryOp;
using testing::expect_error;
namespace k = kernels;

// Inputs are made on the CPU with valid values (0.5, index 0) and moved to the device under test.
Tensor in(const Shape& shape, Device d, DType dtype = DType::Float32, double value = 0.5) {
  return full(shape, value, dtype, cpu()).to(d);
}
Tensor idx(const Shape& shape, Device d) { return in(shape, d, DType::Int64, 0); }

struct Entry {
  std::string kernel;  // the backend entry, as the meta backend records it
  std::function<std::vector<Tensor>(Device)> run;  // its outputs (the target when in place)
};

std::vector<Entry> entries() {
  const GlobalBlock block{{4, 3}, {2, 0}};
  return {
      {"broadcast_to",
       [](Device d) {
         return std::vector{k::broadcast_to(in({3, 1}, d), {2, 3, 4})};
       }},
      {"binary",
       [](Device d) {
         return std::vector{k::binary(BinaryOp::Mul, in({4, 1, 3}, d), in({5, 1}, d), "mul")};
       }},
      {"binary_",
       [](Device d) {
         Tensor a = in({2, 3}, d);
         k::binary_(BinaryOp::Add, a, in({2, 3}, d), "add_");
         return std::vector{a};
       }},
      {"binary_scalar",
       [](Device d) {
         return std::vector{k::binary_scalar(BinaryOp::Sub, in({2, 3}, d, DType::Int64, 4), 2.0),
                            k::scalar_binary(BinaryOp::Div, 1.0, in({5}, d))};
       }},
      {"binary_scalar_",
       [](Device d) {
         Tensor a = in({3}, d, DType::BFloat16);
         k::binary_scalar_(BinaryOp::Mul, a, 2.0, "mul_");
         return std::vector{a};
       }},
      {"pow_scalar",
       [](Device d) {
         return std::vector{k::pow_scalar(in({2, 2}, d, DType::Float64), 3.0)};
       }},
      {"pow_scalar_backward",
       [](Device d) { return std::vector{k::pow_scalar_backward(in({4}, d), in({4}, d), 2.0)}; }},
      {"unary",
       [](Device d) {
         return std::vector{k::unary(UnaryOp::GeluTanh, in({2, 5}, d))};
       }},
      {"unary_backward",
       [](Device d) {
         Tensor x = in({6}, d);
         return std::vector{k::unary_backward(UnaryOp::Tanh, in({6}, d), x, in({6}, d))};
       }},
      {"axpy_",
       [](Device d) {
         Tensor a = in({2, 3}, d);
         k::axpy_(a, 0.5, in({2, 3}, d));
         return std::vector{a};
       }},
      {"affine_",
       [](Device d) {
         Tensor t = in({7}, d);
         k::affine_(t, -1.0, 2.0);
         return std::vector{t};
       }},
      {"sum",
       [](Device d) {
         return std::vector{k::sum(in({2, 3, 4}, d), {0, -1}, false),
                            k::sum(in({2, 3, 4}, d), {1}, true),
                            k::sum(in({2, 3}, d, DType::Int64, 1), {}, false)};
       }},
      {"mean",
       [](Device d) {
         return std::vector{k::mean(in({2, 3, 4}, d), {1}, false),
                            k::mean(in({3, 0}, d), {1}, true)};
       }},
      {"max_dim",
       [](Device d) {
         MaxResult m = k::max_dim(in({2, 3, 4}, d), 1, true);
         MaxResult n = k::max_dim(in({5}, d), 0, false);
         return std::vector{m.values, m.indices, n.values, n.indices};
       }},
      {"max_dim_backward",
       [](Device d) {
         return std::vector{
             k::max_dim_backward(in({2, 4}, d), idx({2, 4}, d), {2, 3, 4}, 1, false)};
       }},
      {"reduce_all",
       [](Device d) {
         return std::vector{k::reduce(k::ReduceOp::Max, in({2, 3}, d, DType::BFloat16)),
                            k::reduce(k::ReduceOp::Prod, in({4}, d, DType::Int64, 2))};
       }},
      {"reduce_dim",
       [](Device d) {
         return std::vector{k::reduce(k::ReduceOp::Min, in({2, 3, 4}, d), -1, false),
                            k::reduce(k::ReduceOp::Sum, in({2, 3}, d, DType::BFloat16), 0, true)};
       }},
      {"cat",
       [](Device d) {
         return std::vector{cat({in({2, 3}, d), in({2, 1}, d)}, 1)};
       }},
      {"permute",
       [](Device d) {
         return std::vector{k::permute(in({2, 3, 4}, d), {2, 0, 1}),
                            k::transpose(in({5, 6}, d), 0, 1)};
       }},
      {"matmul",
       [](Device d) {
         return std::vector{k::matmul(in({5, 2, 3}, d), in({3, 4}, d)),
                            k::matmul(in({2, 3}, d), in({5, 4, 3}, d), false, true),
                            k::matmul(in({7, 3, 2}, d), in({7, 3, 4}, d), true, false)};
       }},
      {"linear",
       [](Device d) {
         return std::vector{k::linear(in({8, 4, 6}, d), in({5, 6}, d), in({5}, d)),
                            k::linear(in({6}, d), in({5, 6}, d), Tensor())};
       }},
      {"linear_backward",
       [](Device d) {
         LinearGrads g = k::linear_backward(in({8, 4, 5}, d), in({8, 4, 6}, d), in({5, 6}, d), true,
                                            true, true);
         LinearGrads h =
             k::linear_backward(in({5}, d), in({6}, d), in({5, 6}, d), false, true, true);
         return std::vector{g.x, g.w, g.bias, h.w, h.bias};
       }},
      {"softmax",
       [](Device d) {
         return std::vector{k::softmax(in({2, 3, 4}, d), 1)};
       }},
      {"softmax_backward",
       [](Device d) {
         return std::vector{k::softmax_backward(in({2, 3}, d), in({2, 3}, d), -1)};
       }},
      {"log_softmax",
       [](Device d) {
         return std::vector{k::log_softmax(in({4, 5}, d, DType::Float64), 1)};
       }},
      {"log_softmax_backward",
       [](Device d) {
         return std::vector{k::log_softmax_backward(in({4, 5}, d), in({4, 5}, d), 0)};
       }},
      {"layer_norm",
       [](Device d) {
         NormResult r = k::layer_norm(in({2, 3, 8}, d), in({8}, d), in({8}, d), 1e-5);
         return std::vector{r.y, r.mean, r.rstd};
       }},
      {"layer_norm_backward",
       [](Device d) {
         NormResult r = k::layer_norm(in({3, 8}, d), in({8}, d), Tensor(), 1e-5);
         NormGrads g = k::layer_norm_backward(in({3, 8}, d), in({3, 8}, d), in({8}, d), r.mean,
                                              r.rstd, true, true);
         return std::vector{g.x, g.weight, g.bias};
       }},
      {"rms_norm",
       [](Device d) {
         NormResult r = k::rms_norm(in({2, 8}, d), in({8}, d), 1e-6);
         return std::vector{r.y, r.rstd};
       }},
      {"rms_norm_backward",
       [](Device d) {
         NormGrads g =
             k::rms_norm_backward(in({2, 8}, d), in({2, 8}, d), in({8}, d), in({2}, d), true);
         return std::vector{g.x, g.weight};
       }},
      {"embedding",
       [](Device d) {
         return std::vector{k::embedding(in({4, 6}, d), idx({2, 3}, d), 0, 10)};
       }},
      {"embedding_backward",
       [](Device d) {
         return std::vector{k::embedding_backward(in({2, 3, 6}, d), idx({2, 3}, d), 4, 0)};
       }},
      {"cross_entropy",
       [](Device d) {
         CrossEntropyResult r =
             k::cross_entropy(in({4, 5}, d), idx({4}, d), Tensor(), -100, Reduction::Mean);
         CrossEntropyResult n =
             k::cross_entropy(in({2, 5, 3}, d), idx({2, 3}, d), in({5}, d), -100, Reduction::None);
         return std::vector{r.loss, r.log_probs, r.total_weight, n.loss, n.log_probs};
       }},
      {"nll_loss",
       [](Device d) {
         CrossEntropyResult r =
             k::nll_loss(in({4, 5}, d), idx({4}, d), Tensor(), -100, Reduction::Sum);
         return std::vector{r.loss, r.log_probs, r.total_weight};
       }},
      {"cross_entropy_backward",
       [](Device d) {
         return std::vector{k::cross_entropy_backward(in({}, d), in({4, 5}, d), idx({4}, d),
                                                      Tensor(), -100, Reduction::Mean,
                                                      in({}, d, DType::Float32, 4))};
       }},
      {"nll_loss_backward",
       [](Device d) {
         return std::vector{k::nll_loss_backward(in({4}, d), idx({4}, d), Tensor(), -100,
                                                 Reduction::None, in({}, d, DType::Float32, 4),
                                                 {4, 5}, DType::Float32)};
       }},
      {"gather_class",
       [](Device d) {
         return std::vector{k::gather_class(in({3, 2}, d), idx({3}, d), 0, 5, -100)};
       }},
      {"class_weights",
       [](Device d) {
         return std::vector{
             k::class_weights(idx({3}, d), in({5}, d, DType::Float64), 5, -100, DType::Float64)};
       }},
      {"scatter_class_add_",
       [](Device d) {
         Tensor out = in({3, 2}, d);
         k::scatter_class_add_(out, idx({3}, d), in({3}, d), 0, -100);
         return std::vector{out};
       }},
      {"uniform_block",
       [block](Device d) {
         return std::vector{k::uniform_block({2, 3}, DType::Float32, 7, 0, block, d)};
       }},
      {"normal_block",
       [block](Device d) {
         return std::vector{k::normal_block({2, 3}, DType::Float64, 7, 0, block, d)};
       }},
      {"dropout_mask",
       [block](Device d) {
         return std::vector{k::dropout_mask({2, 3}, DType::Float32, 0.1, 7, 0, block, d)};
       }},
      {"causal_mask_",
       [](Device d) {
         Tensor s = in({2, 4, 4}, d);
         k::causal_mask_(s);
         return std::vector{s};
       }},
      {"causal_mask_backward_",
       [](Device d) {
         Tensor g = in({4, 4}, d);
         k::causal_mask_backward_(g);
         return std::vector{g};
       }},
      {"sgd_update_",
       [](Device d) {
         Tensor p = in({3, 2}, d), buf = in({3, 2}, d);
         k::sgd_update_(p, in({3, 2}, d), buf, false, {.lr = 0.1, .momentum = 0.9});
         return std::vector{p, buf};
       }},
      {"adam_update_",
       [](Device d) {
         Tensor p = in({5}, d), m = in({5}, d), v = in({5}, d), vmax;
         k::adam_update_(p, in({5}, d), m, v, vmax,
                         {.lr = 0.1,
                          .beta1 = 0.9,
                          .beta2 = 0.99,
                          .eps = 1e-8,
                          .step_size = 0.1,
                          .bias_correction2_sqrt = 1.0});
         return std::vector{p, m, v};
       }},
  };
}

TEST(MetaBackend, EveryEntryGivesTheCpuShapesAndDtypesOnMeta) {
  for (const Entry& e : entries()) {
    SCOPED_TRACE(e.kernel);
    const std::vector<Tensor> expected = e.run(cpu());
    OpRecorder ops;
    const std::vector<Tensor> got = e.run(meta_device());
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(got[i].shape(), expected[i].shape());
      EXPECT_EQ(got[i].dtype(), expected[i].dtype());
      EXPECT_EQ(got[i].device(), meta_device());
    }
    std::set<std::string> recorded;
    for (const OpRecord& r : ops.records()) recorded.insert(r.kernel);
    EXPECT_TRUE(recorded.count(e.kernel)) << "no " << e.kernel << " record";
  }
}

// The table covers every entry of KernelBackend but the three comparisons (next test).
TEST(MetaBackend, TheTableCoversEveryEntry) {
  std::set<std::string> kernels;
  for (const Entry& e : entries()) kernels.insert(e.kernel);
  EXPECT_EQ(kernels.size(), 46u);
}

TEST(MetaBackend, ComparisonsNeedValuesAndSaySo) {
  const Tensor a = Tensor::empty({2}, DType::Float32, meta_device());
  expect_error<std::invalid_argument>([&] { equal(a, a); }, "equal: meta tensors have no values");
  expect_error<std::invalid_argument>([&] { allclose(a, a); },
                                      "allclose: meta tensors have no values");
  expect_error<std::invalid_argument>([&] { max_abs_diff(a, a); },
                                      "max_abs_diff: meta tensors have no values");
}

// Worked example of op_record.h: a GEMM counts 2mkn FLOPs and reads both operands once.
TEST(MetaBackend, RecordsFlopsAndBytesOfAMatmul) {
  const Tensor a = Tensor::empty({8, 64}, DType::Float32, meta_device());
  const Tensor b = Tensor::empty({64, 32}, DType::Float32, meta_device());
  OpRecorder ops;
  ops.set_phase("forward");
  k::matmul(a, b);
  ASSERT_EQ(ops.records().size(), 1u);
  const OpRecord& r = ops.records()[0];
  EXPECT_EQ(r.kernel, "matmul");
  EXPECT_EQ(r.flops, 2 * 8 * 64 * 32);
  EXPECT_EQ(r.bytes_read, (8 * 64 + 64 * 32) * 4);
  EXPECT_EQ(r.bytes_written, 8 * 32 * 4);
  EXPECT_EQ(r.shape, (Shape{8, 32}));
  EXPECT_EQ(r.dtype, DType::Float32);
  EXPECT_EQ(r.phase, "forward");
}

TEST(MetaBackend, ElementWiseCountsOneFlopPerElementAndInPlaceReadsItsTarget) {
  Tensor a = Tensor::empty({3, 5}, DType::BFloat16, meta_device());
  const Tensor b = Tensor::empty({3, 5}, DType::BFloat16, meta_device());
  OpRecorder ops;
  k::binary_(BinaryOp::Add, a, b, "add_");
  const Tensor c = k::binary(BinaryOp::Mul, Tensor::empty({3, 5}, DType::Float32, meta_device()),
                             Tensor::empty({5}, DType::Float32, meta_device()), "mul");
  ASSERT_EQ(ops.records().size(), 2u);
  EXPECT_EQ(ops.records()[0].op, "add");
  EXPECT_EQ(ops.records()[0].flops, 15);
  EXPECT_EQ(ops.records()[0].bytes_read, 2 * 15 * 2);
  EXPECT_EQ(ops.records()[0].bytes_written, 15 * 2);
  EXPECT_EQ(ops.records()[1].flops, 15);
  EXPECT_EQ(ops.records()[1].bytes_read, (15 + 5) * 4);
  EXPECT_EQ(ops.records()[1].bytes_written, 15 * 4);
  EXPECT_EQ(ops.total_flops(), 30);
}

TEST(MetaBackend, RecordersNestAndStopWithTheirScope) {
  const Tensor x = Tensor::empty({4}, DType::Float32, meta_device());
  OpRecorder outer;
  {
    OpRecorder inner;
    k::unary(UnaryOp::Exp, x);
    EXPECT_EQ(inner.records().size(), 1u);
  }
  k::unary(UnaryOp::Exp, x);
  EXPECT_EQ(outer.records().size(), 2u);
}

}  // namespace
}  // namespace tensorpar
