// Tensor handles, views, copies, conversions and in-place ops.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/ops/ops.h"
#include "core/tensor/out_of_memory.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;
using tensor_testing::iota;
using tensor_testing::kAllDTypes;
using tensor_testing::values;
using ::testing::ElementsAre;

// ---- construction and accessors ----

TEST(Tensor, DefaultHandleIsUndefined) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_FALSE(t.shares_storage_with(t));
}

TEST(Tensor, UndefinedTensorAccessorsThrowNamingTheCall) {
  Tensor t;
  expect_error<std::invalid_argument>([&] { (void)t.shape(); },
                                      "Tensor::shape: the tensor is undefined");
  expect_error<std::invalid_argument>([&] { (void)t.numel(); }, "Tensor::numel");
  expect_error<std::invalid_argument>([&] { (void)t.dtype(); }, "Tensor::dtype");
  expect_error<std::invalid_argument>([&] { (void)t.data_ptr(); }, "Tensor::data_ptr");
  expect_error<std::invalid_argument>([&] { (void)t.clone(); }, "clone: the tensor is undefined");
  expect_error<std::invalid_argument>([&] { (void)t.reshape({1}); }, "Tensor::reshape");
  expect_error<std::invalid_argument>([&] { t.fill_(1); }, "fill_: the tensor is undefined");
  expect_error<std::invalid_argument>([&] { zeros({1}).copy_(t); },
                                      "copy_ (src): the tensor is undefined");
}

TEST(Tensor, EmptyHasShapeDtypeAndDevice) {
  for (DType d : kAllDTypes) {
    Tensor t = Tensor::empty({2, 3}, d);
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_EQ(t.dim(), 2);
    EXPECT_EQ(t.numel(), 6);
    EXPECT_EQ(t.dtype(), d);
    EXPECT_EQ(t.device(), cpu());
    EXPECT_EQ(t.nbytes(), 6 * dtype_size(d));
  }
}

TEST(Tensor, ZeroDimTensorHasOneElement) {
  Tensor t = full({}, 2.5);
  EXPECT_EQ(t.dim(), 0);
  EXPECT_EQ(t.numel(), 1);
  EXPECT_EQ(t.item(), 2.5);
}

TEST(Tensor, EmptyRejectsNegativeExtents) {
  expect_error<std::invalid_argument>(
      [] {
        Tensor::empty({3, -2});
      },
      "empty: negative extent -2 in shape [3, -2]");
}

// An allocation the allocator refuses is a std::bad_alloc naming the bytes, shape and dtype
// (2^61 - 1 float64 elements: 2^64 - 8 bytes, which no allocator can round up and serve).
TEST(Tensor, EmptyTooLargeForMemoryNamesTheAllocation) {
  const std::int64_t elements = (std::int64_t{1} << 61) - 1;
  expect_error<OutOfMemory>([&] { Tensor::empty({elements}, DType::Float64); },
                            "out of memory: cannot allocate 18446744073709551608 bytes for a "
                            "[2305843009213693951] float64 tensor on cpu");
  EXPECT_THROW(Tensor::empty({elements}, DType::Float64), std::bad_alloc);
  // One element more and the byte count itself is past what memory can address.
  expect_error<OutOfMemory>([&] { Tensor::empty({elements + 1, 1}, DType::Float64); },
                            "out of memory: a [2305843009213693952, 1] float64 tensor on cpu "
                            "needs more bytes than memory can address");
}

TEST(Tensor, FreshDataIs64ByteAligned) {
  for (DType d : kAllDTypes) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(Tensor::empty({3}, d).data_ptr()) % 64, 0u);
  }
}

TEST(Tensor, SizeAcceptsNegativeDims) {
  Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(-3), 2);
  expect_error<std::out_of_range>([&] { (void)t.size(3); },
                                  "Tensor::size: dim 3 is out of range for a tensor of 3 dims");
}

TEST(Tensor, TypedDataChecksTheDtype) {
  Tensor t = zeros({2}, DType::Float64);
  EXPECT_EQ(t.data<double>(), t.data_ptr());
  expect_error<std::invalid_argument>(
      [&] { (void)t.data<float>(); },
      "Tensor::data: requested float32 but the tensor has dtype float64");
  const Tensor& c = t;
  expect_error<std::invalid_argument>([&] { (void)c.data<std::int64_t>(); }, "requested int64");
}

TEST(Tensor, ItemConvertsTheSingleElement) {
  EXPECT_EQ(full({1, 1}, 7, DType::Int64).item(), 7.0);
  EXPECT_EQ(full({1}, 1.5, DType::BFloat16).item(), 1.5);
  EXPECT_EQ(full({}, -2.25, DType::Float32).item(), -2.25);
}

TEST(Tensor, ItemRejectsOtherElementCounts) {
  expect_error<std::invalid_argument>(
      [] {
        (void)zeros({2, 2}).item();
      },
      "Tensor::item: expects a tensor with one element, got shape [2, 2]");
  expect_error<std::invalid_argument>([] { (void)zeros({0}).item(); }, "got shape [0]");
}

TEST(Tensor, CopiedHandlesShareData) {
  Tensor a = zeros({3});
  Tensor b = a;
  b.fill_(4);
  EXPECT_THAT(values(a), ElementsAre(4, 4, 4));
  EXPECT_TRUE(a.shares_storage_with(b));
}

// ---- reshape ----

TEST(Tensor, ReshapeSharesStorage) {
  Tensor t = iota({2, 3});
  Tensor r = t.reshape({3, 2});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_TRUE(r.shares_storage_with(t));
  r.fill_(1);
  EXPECT_THAT(values(t), ElementsAre(1, 1, 1, 1, 1, 1));
}

TEST(Tensor, ReshapeInfersOneExtent) {
  EXPECT_EQ(iota({2, 3, 4}).reshape({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_EQ(iota({6}).reshape({2, -1}).shape(), (Shape{2, 3}));
  EXPECT_EQ(iota({1}).reshape({}).shape(), Shape{});
  EXPECT_EQ(zeros({0, 3}).reshape({3, 0, 5}).numel(), 0);
}

TEST(Tensor, ReshapeRejectsBadShapes) {
  Tensor t = iota({2, 3});
  expect_error<std::invalid_argument>(
      [&] {
        t.reshape({4, 2});
      },
      "Tensor::reshape: shape [4, 2] is invalid for a tensor of 6 elements");
  expect_error<std::invalid_argument>(
      [&] {
        t.reshape({-1, -1});
      },
      "Tensor::reshape: more than one -1 in shape [-1, -1]");
  expect_error<std::invalid_argument>(
      [&] {
        t.reshape({4, -1});
      },
      "shape [4, -1] is invalid for a tensor of 6 elements");
  expect_error<std::invalid_argument>([&] { t.reshape({-2, -3}); }, "negative extent -2");
  expect_error<std::invalid_argument>([] { zeros({0}).reshape({0, -1}); }, "is invalid");
}

// ---- narrow and chunk ----

TEST(Tensor, NarrowAlongTheOuterDimIsAView) {
  Tensor t = iota({4, 3});
  Tensor n = t.narrow(0, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 3}));
  EXPECT_THAT(values(n), ElementsAre(3, 4, 5, 6, 7, 8));
  EXPECT_TRUE(n.shares_storage_with(t));
  n.fill_(-1);
  EXPECT_THAT(values(t), ElementsAre(0, 1, 2, -1, -1, -1, -1, -1, -1, 9, 10, 11));
}

TEST(Tensor, NarrowBehindUnitDimsIsAView) {
  Tensor t = iota({1, 1, 6});
  Tensor n = t.narrow(2, 2, 3);
  EXPECT_TRUE(n.shares_storage_with(t));
  EXPECT_THAT(values(n), ElementsAre(2, 3, 4));
}

TEST(Tensor, NarrowAlongAnInnerDimIsACopy) {
  Tensor t = iota({2, 3});
  Tensor n = t.narrow(1, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 2}));
  EXPECT_THAT(values(n), ElementsAre(1, 2, 4, 5));
  EXPECT_FALSE(n.shares_storage_with(t));
}

TEST(Tensor, NarrowOfTheWholeInnerDimIsAView) {
  Tensor t = iota({2, 3});
  EXPECT_TRUE(t.narrow(1, 0, 3).shares_storage_with(t));
}

TEST(Tensor, NarrowComposesOffsets) {
  Tensor t = iota({6, 2, 3}, DType::Int64);
  Tensor inner = t.narrow(0, 2, 3).narrow(0, 1, 1).narrow(-1, 1, 2);
  EXPECT_EQ(inner.shape(), (Shape{1, 2, 2}));
  EXPECT_THAT(to_vector<std::int64_t>(inner), ElementsAre(19, 20, 22, 23));
}

TEST(Tensor, NarrowToZeroLength) {
  Tensor t = iota({2, 3});
  EXPECT_EQ(t.narrow(1, 3, 0).shape(), (Shape{2, 0}));
  EXPECT_EQ(t.narrow(0, 1, 0).numel(), 0);
}

TEST(Tensor, NarrowRejectsBadRanges) {
  Tensor t = iota({2, 5});
  expect_error<std::invalid_argument>([&] { t.narrow(1, 4, 3); },
                                      "narrow: start 4 + length 3 exceeds size 5 of dim 1");
  expect_error<std::invalid_argument>([&] { t.narrow(-1, 6, 0); },
                                      "narrow: start 6 + length 0 exceeds size 5 of dim 1");
  expect_error<std::invalid_argument>([&] { t.narrow(0, -1, 1); }, "narrow: start -1 is negative");
  expect_error<std::invalid_argument>([&] { t.narrow(0, 0, -1); }, "narrow: length -1 is negative");
  expect_error<std::out_of_range>([&] { t.narrow(2, 0, 1); },
                                  "narrow: dim 2 is out of range for a tensor of 2 dims");
  expect_error<std::out_of_range>([] { full({}, 1).narrow(0, 0, 1); }, "tensor of 0 dims");
}

TEST(Tensor, ChunkFollowsTorchChunk) {
  std::vector<Tensor> parts = iota({5}).chunk(4);
  ASSERT_EQ(parts.size(), 3u);  // ceil(5/4) = 2 per chunk: [2, 2, 1]
  EXPECT_THAT(values(parts[0]), ElementsAre(0, 1));
  EXPECT_THAT(values(parts[1]), ElementsAre(2, 3));
  EXPECT_THAT(values(parts[2]), ElementsAre(4));
}

TEST(Tensor, ChunkMayReturnFewerChunks) {
  EXPECT_EQ(iota({6}).chunk(4).size(), 3u);  // [2, 2, 2]
  EXPECT_EQ(iota({2}).chunk(5).size(), 2u);  // [1, 1]
  EXPECT_EQ(iota({6}).chunk(3).size(), 3u);
  EXPECT_EQ(iota({7}).chunk(1).size(), 1u);
}

TEST(Tensor, ChunkOfAnEmptyDimGivesChunksEmptyTensors) {
  std::vector<Tensor> parts = zeros({3, 0}).chunk(4, 1);
  ASSERT_EQ(parts.size(), 4u);
  for (const Tensor& p : parts) EXPECT_EQ(p.shape(), (Shape{3, 0}));
}

TEST(Tensor, ChunkAlongAnInnerDim) {
  std::vector<Tensor> parts = iota({2, 5}).chunk(2, -1);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].shape(), (Shape{2, 3}));
  EXPECT_THAT(values(parts[0]), ElementsAre(0, 1, 2, 5, 6, 7));
  EXPECT_THAT(values(parts[1]), ElementsAre(3, 4, 8, 9));
}

TEST(Tensor, ChunkAlongDimZeroSharesStorage) {
  Tensor t = iota({4, 2});
  for (const Tensor& p : t.chunk(2)) EXPECT_TRUE(p.shares_storage_with(t));
}

TEST(Tensor, ChunkRejectsBadArguments) {
  expect_error<std::invalid_argument>([] { iota({4}).chunk(0); },
                                      "chunk: chunks 0 must be positive");
  expect_error<std::invalid_argument>([] { iota({4}).chunk(-2); }, "chunks -2");
  expect_error<std::out_of_range>([] { iota({4}).chunk(2, 1); },
                                  "chunk: dim 1 is out of range for a tensor of 1 dims");
  expect_error<std::out_of_range>([] { full({}, 1).chunk(2); }, "tensor of 0 dims");
}

// ---- clone, to, copy_ ----

TEST(Tensor, CloneIsIndependent) {
  Tensor t = iota({2, 2});
  Tensor c = t.clone();
  EXPECT_FALSE(c.shares_storage_with(t));
  c.fill_(9);
  EXPECT_THAT(values(t), ElementsAre(0, 1, 2, 3));
}

TEST(Tensor, CloneOfAViewCopiesOnlyTheView) {
  Tensor c = iota({4, 2}).narrow(0, 2, 2).clone();
  EXPECT_THAT(values(c), ElementsAre(4, 5, 6, 7));
  EXPECT_EQ(c.nbytes(), 16u);
}

TEST(Tensor, ToSameDtypeReturnsTheSameHandle) {
  Tensor t = iota({3});
  EXPECT_TRUE(t.to(DType::Float32).shares_storage_with(t));
}

TEST(Tensor, ToConvertsBetweenEveryPairOfDtypes) {
  for (DType from : kAllDTypes) {
    for (DType to : kAllDTypes) {
      Tensor t = from_vector<double>({-3, 0, 2, 100}, {2, 2}).to(from).to(to);
      EXPECT_EQ(t.dtype(), to);
      EXPECT_EQ(t.shape(), (Shape{2, 2}));
      EXPECT_THAT(values(t), ElementsAre(-3, 0, 2, 100))
          << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
}

TEST(Tensor, ToInt64TruncatesTowardZero) {
  Tensor t = from_vector<double>({2.7, -2.7, 0.5, -0.5}, {4}).to(DType::Int64);
  EXPECT_THAT(to_vector<std::int64_t>(t), ElementsAre(2, -2, 0, 0));
}

TEST(Tensor, ToInt64RejectsUnrepresentableValues) {
  expect_error<std::invalid_argument>(
      [] {
        from_vector<double>({1, std::nan("")}, {2}).to(DType::Int64);
      },
      "to: value nan is not representable as int64");
  expect_error<std::invalid_argument>(
      [] { full({1}, std::numeric_limits<double>::infinity()).to(DType::Int64); },
      "to: value inf is not representable as int64");
  expect_error<std::invalid_argument>(
      [] { zeros({1}, DType::Int64).copy_(full({1}, 1e19, DType::Float64)); },
      "copy_: value 1e+19 is not representable as int64");
  expect_error<std::invalid_argument>([] { to_vector<std::int64_t>(full({1}, -1e19)); },
                                      "to_vector: value -1e+19");
}

TEST(Tensor, ToBFloat16RoundsToNearestEven) {
  Tensor t = from_vector<float>({1.00390625f, 1.01171875f}, {2}).to(DType::BFloat16);
  EXPECT_EQ(t.data<BFloat16>()[0].bits, 0x3F80);
  EXPECT_EQ(t.data<BFloat16>()[1].bits, 0x3F82);
}

TEST(Tensor, CopyWritesThroughTheDestinationHandle) {
  Tensor big = zeros({3, 2});
  Tensor row = big.narrow(0, 1, 1);
  row.copy_(from_vector<double>({5, 6}, {1, 2}));  // converts float64 -> float32
  EXPECT_THAT(values(big), ElementsAre(0, 0, 5, 6, 0, 0));
}

TEST(Tensor, CopyBetweenOverlappingViewsOfOneStorage) {
  Tensor t = iota({4}, DType::Float64);
  t.narrow(0, 0, 3).copy_(t.narrow(0, 1, 3));
  EXPECT_THAT(values(t), ElementsAre(1, 2, 3, 3));
  Tensor u = iota({4}, DType::Int64);
  Tensor as_double = u.to(DType::Float64);
  u.copy_(as_double.mul_(2));
  EXPECT_THAT(values(u), ElementsAre(0, 2, 4, 6));
}

TEST(Tensor, CopyRejectsShapeMismatch) {
  expect_error<std::invalid_argument>(
      [] {
        zeros({2, 3}).copy_(zeros({3, 2}));
      },
      "copy_: src shape [3, 2] does not match destination shape [2, 3]");
}

// ---- narrow_assign_ ----

TEST(Tensor, NarrowAssignAlongTheOuterDim) {
  Tensor t = zeros({3, 2});
  t.narrow_assign_(0, 1, ones({2, 2}));
  EXPECT_THAT(values(t), ElementsAre(0, 0, 1, 1, 1, 1));
}

TEST(Tensor, NarrowAssignAlongAnInnerDim) {
  Tensor t = zeros({2, 4}, DType::Int64);
  t.narrow_assign_(-1, 1, from_vector<double>({1, 2, 3, 4}, {2, 2}));
  EXPECT_THAT(to_vector<std::int64_t>(t), ElementsAre(0, 1, 2, 0, 0, 3, 4, 0));
}

TEST(Tensor, NarrowAssignFromAnOverlappingView) {
  Tensor t = iota({5});
  t.narrow_assign_(0, 1, t.narrow(0, 0, 4));
  EXPECT_THAT(values(t), ElementsAre(0, 0, 1, 2, 3));
}

TEST(Tensor, NarrowAssignOfAnEmptySourceIsANoOp) {
  Tensor t = iota({2, 3});
  t.narrow_assign_(1, 3, zeros({2, 0}));
  EXPECT_THAT(values(t), ElementsAre(0, 1, 2, 3, 4, 5));
}

TEST(Tensor, NarrowAssignRejectsMismatches) {
  Tensor t = zeros({2, 5});
  expect_error<std::invalid_argument>(
      [&] {
        t.narrow_assign_(1, 4, zeros({2, 3}));
      },
      "narrow_assign_: start 4 + length 3 exceeds size 5 of dim 1");
  expect_error<std::invalid_argument>(
      [&] {
        t.narrow_assign_(1, 0, zeros({3, 2}));
      },
      "narrow_assign_: src shape [3, 2] does not match destination shape [2, 5] outside dim 1");
  expect_error<std::invalid_argument>([&] { t.narrow_assign_(0, 0, zeros({5})); },
                                      "narrow_assign_: src has 1 dims but the destination has 2");
  expect_error<std::invalid_argument>(
      [&] {
        t.narrow_assign_(0, -1, zeros({1, 5}));
      },
      "narrow_assign_: start -1 is negative");
  expect_error<std::out_of_range>([&] { t.narrow_assign_(2, 0, t); }, "narrow_assign_: dim 2");
}

// ---- fill_ and in-place arithmetic ----

TEST(Tensor, FillSetsEveryElementForEveryDtype) {
  for (DType d : kAllDTypes) {
    Tensor t = Tensor::empty({2, 3}, d).fill_(3);
    EXPECT_THAT(values(t), ElementsAre(3, 3, 3, 3, 3, 3)) << dtype_name(d);
    EXPECT_THAT(values(t.zero_()), ElementsAre(0, 0, 0, 0, 0, 0)) << dtype_name(d);
  }
}

TEST(Tensor, FillInt64TruncatesLikeAConversion) {
  EXPECT_THAT(to_vector<std::int64_t>(zeros({2}, DType::Int64).fill_(-2.9)), ElementsAre(-2, -2));
  expect_error<std::invalid_argument>([] { zeros({2}, DType::Int64).fill_(std::nan("")); },
                                      "fill_: value nan is not representable as int64");
}

TEST(Tensor, FillOfAnEmptyTensorIsANoOp) { EXPECT_EQ(zeros({0, 4}).fill_(1).numel(), 0); }

TEST(Tensor, AddInPlaceForEveryDtype) {
  for (DType d : kAllDTypes) {
    Tensor t = iota({2, 2}, d);
    t.add_(full({2, 2}, 10, d));
    EXPECT_THAT(values(t), ElementsAre(10, 11, 12, 13)) << dtype_name(d);
  }
}

TEST(Tensor, AddInPlaceToItself) {
  Tensor t = iota({3});
  t.add_(t);
  EXPECT_THAT(values(t), ElementsAre(0, 2, 4));
}

TEST(Tensor, AddInPlaceRejectsMismatches) {
  expect_error<std::invalid_argument>(
      [] {
        zeros({2, 3}).add_(zeros({3, 2}));
      },
      "add_: shape mismatch [2, 3] vs [3, 2]");
  expect_error<std::invalid_argument>([] { zeros({2}).add_(zeros({2}, DType::Float64)); },
                                      "add_: dtype mismatch float32 vs float64");
  expect_error<std::invalid_argument>([] { zeros({2}).add_(Tensor()); }, "add_: b is undefined");
}

TEST(Tensor, MulAndDivInPlaceByScalars) {
  for (DType d : kAllDTypes) {
    EXPECT_THAT(values(iota({3}, d).mul_(4)), ElementsAre(0, 4, 8)) << dtype_name(d);
    EXPECT_THAT(values(iota({3}, d).mul_(4).div_(2)), ElementsAre(0, 2, 4)) << dtype_name(d);
  }
  EXPECT_THAT(values(iota({3}).mul_(0.5)), ElementsAre(0, 0.5, 1));
}

TEST(Tensor, Int64DivInPlaceTruncatesTowardZero) {
  Tensor t = from_vector<std::int64_t>({7, -7, 6, -1}, {4});
  EXPECT_THAT(to_vector<std::int64_t>(t.div_(2)), ElementsAre(3, -3, 3, 0));
}

TEST(Tensor, Int64ScalarOpsRejectBadScalars) {
  expect_error<std::invalid_argument>([] { iota({2}, DType::Int64).div_(0); },
                                      "div_: integer division by zero");
  expect_error<std::invalid_argument>(
      [] { iota({2}, DType::Int64).mul_(0.5); },
      "mul_: scalar 0.5 is not an integer; an int64 tensor keeps its dtype");
  expect_error<std::invalid_argument>(
      [] { full({1}, double(std::numeric_limits<std::int64_t>::min()), DType::Int64).div_(-1); },
      "div_: integer division overflow");
}

TEST(Tensor, FloatDivInPlaceByZeroGivesInfinity) {
  Tensor t = from_vector<float>({1, -1}, {2}).div_(0);
  EXPECT_THAT(values(t), ElementsAre(std::numeric_limits<double>::infinity(),
                                     -std::numeric_limits<double>::infinity()));
}

TEST(Tensor, BFloat16InPlaceArithmeticRoundsThroughFloat32) {
  // 256 + 1 = 257 is not representable in bfloat16 (8 significant bits): rounds to even 256.
  Tensor t = full({1}, 256, DType::BFloat16);
  t.add_(full({1}, 1, DType::BFloat16));
  EXPECT_EQ(t.item(), 256.0);
  t.add_(full({1}, 3, DType::BFloat16));  // 259 -> 260
  EXPECT_EQ(t.item(), 260.0);
}

TEST(Tensor, InPlaceOpsOnAViewWriteThroughStorage) {
  Tensor t = iota({3, 2});
  t.narrow(0, 1, 2).mul_(10);
  EXPECT_THAT(values(t), ElementsAre(0, 1, 20, 30, 40, 50));
}

}  // namespace
}  // namespace tensorpar
