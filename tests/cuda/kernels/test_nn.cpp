// cuda/kernels/nn.cu against the CPU backend: embedding (vocab-parallel rows) and its
// deterministic backward, cross-entropy and NLL with weights, ignore_index and every reduction,
// the vocab-parallel pieces, Philox blocks (uniform and dropout bit for bit, any block of the
// global tensor), and the fused SGD and Adam/AdamW steps.
#include "cuda/cuda_testing.h"

namespace tensorpar::cuda_testing {
namespace {

using kernels::Reduction;

using CudaNn = CudaTest;

TEST_F(CudaNn, EmbeddingLooksUpItsShardsRowsAndZeroesTheOthers) {
  const Tensor weight = random({10, 8}, DType::Float32);
  const Tensor idx = random_indices({4, 25}, 30);
  expect_bitwise(kernels::embedding(on_gpu(weight), on_gpu(idx), 10, 30),
                 kernels::embedding(weight, idx, 10, 30));
  expect_error<std::invalid_argument>(
      [&] {
        (void)kernels::embedding(on_gpu(weight), from_vector<std::int64_t>({3, 31}, {2}, gpu()), 0,
                                 30);
      },
      "embedding: index 31 is out of range for 30 embeddings");
}

TEST_F(CudaNn, EmbeddingBackwardSumsInPositionOrderBitForBit) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor idx = random_indices({8, 64}, 50);  // many repeats
    const Tensor grad = random({8, 64, 12}, dtype);
    for (std::int64_t offset : {0, 20}) {
      const Tensor ref = kernels::embedding_backward(grad, idx, 25, offset);
      const Tensor got = kernels::embedding_backward(on_gpu(grad), on_gpu(idx), 25, offset);
      expect_bitwise(got, ref);
      expect_bitwise(kernels::embedding_backward(on_gpu(grad), on_gpu(idx), 25, offset), ref);
    }
  }
}

TEST_F(CudaNn, CrossEntropyAndNllMatchTheCpuForEveryReduction) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor logits = random({6, 11, 3}, dtype, -4, 4);
    Tensor target = random_indices({6, 3}, 11);
    const Tensor weight = random({11}, dtype, 0.5, 2, 5);
    for (Reduction reduction : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
      for (bool weighted : {false, true}) {
        const Tensor w = weighted ? weight : Tensor();
        const kernels::CrossEntropyResult ref =
            kernels::cross_entropy(logits, target, w, 4, reduction);
        const kernels::CrossEntropyResult got =
            kernels::cross_entropy(on_gpu(logits), on_gpu(target), on_gpu(w), 4, reduction);
        expect_close(got.loss, ref.loss);
        expect_close(got.total_weight, ref.total_weight);
        const Tensor grad = reduction == Reduction::None ? random({6, 3}, dtype, -1, 1, 9)
                                                         : full({}, 0.7, dtype, cpu());
        expect_close(kernels::cross_entropy_backward(on_gpu(grad), got.log_probs, on_gpu(target),
                                                     on_gpu(w), 4, reduction, got.total_weight),
                     kernels::cross_entropy_backward(grad, ref.log_probs, target, w, 4, reduction,
                                                     ref.total_weight));
        const kernels::CrossEntropyResult nref =
            kernels::nll_loss(ref.log_probs, target, w, 4, reduction);
        const kernels::CrossEntropyResult ngot =
            kernels::nll_loss(on_gpu(ref.log_probs), on_gpu(target), on_gpu(w), 4, reduction);
        expect_close(ngot.loss, nref.loss);
        expect_close(
            kernels::nll_loss_backward(on_gpu(grad), on_gpu(target), on_gpu(w), 4, reduction,
                                       ngot.total_weight, logits.shape(), dtype),
            kernels::nll_loss_backward(grad, target, w, 4, reduction, nref.total_weight,
                                       logits.shape(), dtype));
      }
    }
  }
}

TEST_F(CudaNn, AnOutOfRangeTargetNamesItself) {
  const Tensor logits = random({2, 5});
  const Tensor target = from_vector<std::int64_t>({1, 9}, {2}, gpu());
  expect_error<std::invalid_argument>(
      [&] {
        (void)kernels::cross_entropy(on_gpu(logits), target, Tensor(), -100, Reduction::Mean);
      },
      "cross_entropy: target 9 is out of range for 5 classes");
}

TEST_F(CudaNn, TheVocabParallelPiecesMatchTheCpu) {
  const Tensor values = random({6, 4, 2}, DType::Float64);  // classes 8..11 of 20
  const Tensor target = random_indices({6, 2}, 20);
  expect_bitwise(kernels::gather_class(on_gpu(values), on_gpu(target), 8, 20, 3),
                 kernels::gather_class(values, target, 8, 20, 3));
  const Tensor weight = random({20}, DType::Float64, 0.5, 2);
  expect_bitwise(kernels::class_weights(on_gpu(target), on_gpu(weight), 20, 3, DType::Float64),
                 kernels::class_weights(target, weight, 20, 3, DType::Float64));
  Tensor out = values.clone(), gout = on_gpu(values);
  const Tensor src = random({6, 2}, DType::Float64, -1, 1, 8);
  kernels::scatter_class_add_(out, target, src, 8, 3);
  kernels::scatter_class_add_(gout, on_gpu(target), on_gpu(src), 8, 3);
  expect_bitwise(gout, out);
}

TEST_F(CudaNn, PhiloxBlocksEqualTheCpusBitForBit) {
  const kernels::GlobalBlock whole{};
  const kernels::GlobalBlock block{{9, 10, 11}, {3, 2, 5}};
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const kernels::GlobalBlock& b : {whole, block}) {
      const Shape local = b.global_shape.empty() ? Shape{6, 8, 6} : Shape{4, 7, 6};
      expect_bitwise(kernels::uniform_block(local, dtype, 1234, 99, b, gpu()),
                     kernels::uniform_block(local, dtype, 1234, 99, b, cpu()));
      expect_bitwise(kernels::normal_block(local, dtype, 1234, 99, b, gpu()),
                     kernels::normal_block(local, dtype, 1234, 99, b, cpu()));
      expect_bitwise(kernels::dropout_mask(local, dtype, 0.3, 1234, 99, b, gpu()),
                     kernels::dropout_mask(local, dtype, 0.3, 1234, 99, b, cpu()));
    }
  }
}

TEST_F(CudaNn, FusedOptimizerStepsMatchTheCpu) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor p0 = random({1000}, dtype), g = random({1000}, dtype, -1, 1, 3);
    for (bool nesterov : {false, true}) {
      kernels::SgdHyper h{0.1, 0.9, 0.0, 0.01, nesterov};
      Tensor p = p0.clone(), gp = on_gpu(p0), buf = zeros({1000}, dtype, cpu()),
             gbuf = zeros({1000}, dtype, gpu());
      for (bool first : {true, false}) {
        kernels::sgd_update_(p, g, buf, first, h);
        kernels::sgd_update_(gp, on_gpu(g), gbuf, first, h);
      }
      expect_close(gp, p);
      expect_close(gbuf, buf);
    }
    for (bool decoupled : {false, true}) {
      for (bool amsgrad : {false, true}) {
        kernels::AdamHyper h{1e-3, 0.9, 0.999, 1e-8, 0.01, 1e-3 / 0.1, std::sqrt(0.001), decoupled};
        Tensor p = p0.clone(), m = zeros({1000}, dtype, cpu()), v = zeros({1000}, dtype, cpu());
        Tensor vmax = amsgrad ? zeros({1000}, dtype, cpu()) : Tensor();
        Tensor gp = on_gpu(p0), gm = on_gpu(m), gv = on_gpu(v), gvmax = on_gpu(vmax);
        for (int step = 0; step < 3; ++step) {
          kernels::adam_update_(p, g, m, v, vmax, h);
          kernels::adam_update_(gp, on_gpu(g), gm, gv, gvmax, h);
        }
        expect_close(gp, p);
        expect_close(gm, m);
        expect_close(gv, v);
      }
    }
  }
}

}  // namespace
}  // namespace tensorpar::cuda_testing
