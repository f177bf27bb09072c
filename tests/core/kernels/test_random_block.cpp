// Random blocks: every shard of a global tensor draws exactly its slice of the single-device draw.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/kernels/random_block.h"
#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "support/expect_error.h"

namespace tensorpar::kernels {
namespace {

using testing::expect_error;

constexpr std::uint64_t kSeed = 1234, kBase = 77;

// One of the three block generators, by name, for parameterised loops.
enum class Kind { Uniform, Normal, Dropout };

Tensor draw(Kind kind, const Shape& local, DType dtype, const GlobalBlock& block) {
  switch (kind) {
    case Kind::Uniform:
      return uniform_block(local, dtype, kSeed, kBase, block);
    case Kind::Normal:
      return normal_block(local, dtype, kSeed, kBase, block);
    case Kind::Dropout:
      return dropout_mask(local, dtype, 0.4, kSeed, kBase, block);
  }
  return Tensor();
}

// The torch.chunk split of `global` into `chunks` along `dim`: (offsets, local shape) per block.
std::vector<std::pair<Shape, Shape>> chunk_blocks(const Shape& global, std::int64_t dim,
                                                  std::int64_t chunks) {
  std::vector<std::pair<Shape, Shape>> blocks;
  const std::int64_t extent = global[std::size_t(dim)], step = (extent + chunks - 1) / chunks;
  for (std::int64_t start = 0; start < extent; start += step) {
    Shape offsets(global.size(), 0), local = global;
    offsets[std::size_t(dim)] = start;
    local[std::size_t(dim)] = std::min(step, extent - start);
    blocks.emplace_back(offsets, local);
  }
  return blocks;
}

TEST(KernelNnRandom, UniformOfTheWholeTensorEqualsRandAtTheSameOffset) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Generator gen(kSeed, kBase);
    EXPECT_TRUE(
        equal(uniform_block({3, 4, 5}, dtype, kSeed, kBase, {}), rand({3, 4, 5}, gen, dtype)));
  }
}

TEST(KernelNnRandom, NormalOfTheWholeTensorEqualsRandnAtTheSameOffset) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Generator gen(kSeed, kBase);
    EXPECT_TRUE(equal(normal_block({5, 7}, dtype, kSeed, kBase, {}), randn({5, 7}, gen, dtype)));
  }
}

TEST(KernelNnRandom, AnExplicitWholeBlockEqualsTheImplicitOne) {
  const GlobalBlock whole{{5, 7}, {0, 0}};
  EXPECT_TRUE(equal(uniform_block({5, 7}, DType::Float64, kSeed, kBase, whole),
                    uniform_block({5, 7}, DType::Float64, kSeed, kBase, {})));
}

TEST(KernelNnRandom, EveryChunkAlongEveryDimIsTheSliceOfTheWholeDraw) {
  for (const Shape& global : {Shape{5, 7}, Shape{3, 4, 5}}) {
    for (Kind kind : {Kind::Uniform, Kind::Normal, Kind::Dropout}) {
      for (DType dtype : {DType::Float32, DType::Float64}) {
        const Tensor whole = draw(kind, global, dtype, {});
        for (std::int64_t dim = 0; dim < std::int64_t(global.size()); ++dim) {
          for (std::int64_t chunks = 1; chunks <= global[std::size_t(dim)]; ++chunks) {
            for (const auto& [offsets, local] : chunk_blocks(global, dim, chunks)) {
              SCOPED_TRACE(shape_str(global) + " dim " + std::to_string(dim) + " chunks " +
                           std::to_string(chunks) + " at " + shape_str(offsets));
              const Tensor block = draw(kind, local, dtype, {global, offsets});
              const std::int64_t d = dim;
              EXPECT_TRUE(
                  equal(block, whole.narrow(d, offsets[std::size_t(d)], local[std::size_t(d)])));
            }
          }
        }
      }
    }
  }
}

TEST(KernelNnRandom, A2DShardingReassemblesTheWholeDraw) {
  // [5, 7] split 2 ways on dim 0 and 3 ways on dim 1 (uneven both ways), then stitched back.
  const Shape global{5, 7};
  const Tensor whole = uniform_block(global, DType::Float64, kSeed, kBase, {});
  std::vector<Tensor> rows;
  for (const auto& [row_off, row_shape] : chunk_blocks(global, 0, 2)) {
    std::vector<Tensor> cols;
    for (const auto& [col_off, col_shape] : chunk_blocks(row_shape, 1, 3)) {
      const Shape local{row_shape[0], col_shape[1]};
      cols.push_back(
          uniform_block(local, DType::Float64, kSeed, kBase, {global, {row_off[0], col_off[1]}}));
    }
    rows.push_back(cat(cols, std::int64_t(1)));
  }
  EXPECT_TRUE(equal(cat(rows, std::int64_t(0)), whole));
}

TEST(KernelNnRandom, ElementsTakeTheCounterOfTheirGlobalIndex) {
  // The [2, 2] block at offsets [0, 2] of [2, 4] holds counters base + {2, 3, 6, 7}.
  const Tensor block = uniform_block({2, 2}, DType::Float64, kSeed, kBase, {{2, 4}, {0, 2}});
  const std::vector<double> v = to_vector<double>(block);
  EXPECT_EQ(v[0], uniform_double_at(kSeed, kBase + 2));
  EXPECT_EQ(v[1], uniform_double_at(kSeed, kBase + 3));
  EXPECT_EQ(v[2], uniform_double_at(kSeed, kBase + 6));
  EXPECT_EQ(v[3], uniform_double_at(kSeed, kBase + 7));
}

TEST(KernelNnRandom, A0DTensorIsCounterBase) {
  EXPECT_EQ(uniform_block({}, DType::Float32, kSeed, kBase, {}).item(),
            double(uniform_float_at(kSeed, kBase)));
  EXPECT_EQ(normal_block({}, DType::Float64, kSeed, kBase, {}).item(), normal_at(kSeed, kBase));
}

TEST(KernelNnRandom, EmptyBlocksAreEmpty) {
  EXPECT_EQ(uniform_block({3, 0}, DType::Float32, kSeed, kBase, {{3, 4}, {0, 4}}).numel(), 0);
}

TEST(KernelNnRandom, DropoutKeepsAboutOneMinusPScaled) {
  const double p = 0.3;
  const Tensor mask = dropout_mask({200, 100}, DType::Float64, p, kSeed, kBase, {});
  std::int64_t kept = 0;
  for (double v : to_vector<double>(mask)) {
    if (v != 0) {
      EXPECT_EQ(v, 1.0 / (1.0 - p));
      ++kept;
    }
  }
  EXPECT_NEAR(double(kept) / mask.numel(), 1 - p, 0.015);
}

TEST(KernelNnRandom, DropoutKeepsExactlyWhereTheFloatStreamReachesP) {
  const Tensor mask = dropout_mask({50}, DType::Float64, 0.5, kSeed, kBase, {});
  const std::vector<double> v = to_vector<double>(mask);
  for (std::uint64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(v[i] != 0, uniform_float_at(kSeed, kBase + i) >= 0.5f) << i;
  }
}

TEST(KernelNnRandom, DropoutMasksAreIdenticalForFloat32AndFloat64) {
  const Tensor m32 = dropout_mask({30, 30}, DType::Float32, 0.25, kSeed, kBase, {});
  const Tensor m64 = dropout_mask({30, 30}, DType::Float64, 0.25, kSeed, kBase, {});
  const std::vector<double> v32 = to_vector<double>(m32), v64 = to_vector<double>(m64);
  std::int64_t kept = 0;
  for (std::size_t i = 0; i < v64.size(); ++i) {
    EXPECT_EQ(v32[i] != 0, v64[i] != 0) << i;
    EXPECT_EQ(v32[i], v64[i] != 0 ? double(float(1 / 0.75)) : 0.0) << i;
    kept += v64[i] != 0;
  }
  EXPECT_GT(kept, 0);
  // With an exact scale (p = 0.5) the values agree too.
  EXPECT_TRUE(
      equal(dropout_mask({30, 30}, DType::Float32, 0.5, kSeed, kBase, {}).to(DType::Float64),
            dropout_mask({30, 30}, DType::Float64, 0.5, kSeed, kBase, {})));
}

TEST(KernelNnRandom, DropoutWithPZeroKeepsAllAndPOneDropsAll) {
  EXPECT_TRUE(equal(dropout_mask({4, 5}, DType::Float32, 0.0, kSeed, kBase, {}), ones({4, 5})));
  EXPECT_TRUE(equal(dropout_mask({4, 5}, DType::Float64, 1.0, kSeed, kBase, {}),
                    zeros({4, 5}, DType::Float64)));
}

TEST(KernelNnRandom, DifferentSeedsAndBasesGiveDifferentDraws) {
  const Tensor a = uniform_block({8}, DType::Float64, 1, 0, {});
  EXPECT_FALSE(equal(a, uniform_block({8}, DType::Float64, 2, 0, {})));
  EXPECT_FALSE(equal(a, uniform_block({8}, DType::Float64, 1, 1, {})));
  // A base shifted by one is the same stream shifted by one element.
  EXPECT_TRUE(equal(uniform_block({7}, DType::Float64, 1, 1, {}), a.narrow(0, 1, 7)));
}

TEST(KernelNnRandom, RejectsABlockOutsideTheGlobalShape) {
  expect_error<std::invalid_argument>(
      [] {
        uniform_block({3, 4}, DType::Float32, kSeed, kBase, {{3, 7}, {0, 4}});
      },
      "uniform_block: the block of shape [3, 4] at offsets [0, 4] exceeds global shape [3, 7] in "
      "dim 1");
  expect_error<std::invalid_argument>(
      [] {
        normal_block({3, 4}, DType::Float32, kSeed, kBase, {{3, 7}, {-1, 0}});
      },
      "normal_block: the block of shape [3, 4] at offsets [-1, 0] exceeds global shape [3, 7] in "
      "dim 0");
}

TEST(KernelNnRandom, RejectsMismatchedRanks) {
  expect_error<std::invalid_argument>(
      [] {
        uniform_block({3, 4}, DType::Float32, kSeed, kBase, {{3, 4, 1}, {0, 0, 0}});
      },
      "uniform_block: local shape [3, 4], global shape [3, 4, 1] and offsets [0, 0, 0] must have "
      "the same rank");
  expect_error<std::invalid_argument>(
      [] {
        uniform_block({3, 4}, DType::Float32, kSeed, kBase, {{}, {1, 0}});
      },
      "uniform_block: offsets [1, 0] given without a global shape");
}

TEST(KernelNnRandom, RejectsOtherDtypesAndABadP) {
  expect_error<std::invalid_argument>([] { uniform_block({3}, DType::BFloat16, kSeed, kBase, {}); },
                                      "uniform_block: dtype bfloat16 is not supported");
  expect_error<std::invalid_argument>([] { normal_block({3}, DType::Int64, kSeed, kBase, {}); },
                                      "normal_block: dtype int64 is not supported");
  expect_error<std::invalid_argument>(
      [] { dropout_mask({3}, DType::Float32, 1.5, kSeed, kBase, {}); },
      "dropout: p must be in [0, 1], got 1.5");
  expect_error<std::invalid_argument>(
      [] { dropout_mask({3}, DType::Float32, -0.1, kSeed, kBase, {}); },
      "dropout: p must be in [0, 1], got -0.1");
}

}  // namespace
}  // namespace tensorpar::kernels
