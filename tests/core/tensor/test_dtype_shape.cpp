// Element types, shapes, devices and reduce-op names.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/tensor/device.h"
#include "core/tensor/dtype.h"
#include "core/tensor/reduce_op.h"
#include "core/tensor/shape.h"
#include "core/ops/ops.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;
using tensor_testing::kAllDTypes;

// ---- DType ----

TEST(DType, SizesAreTheElementWidths) {
  EXPECT_EQ(dtype_size(DType::Float32), 4u);
  EXPECT_EQ(dtype_size(DType::Float64), 8u);
  EXPECT_EQ(dtype_size(DType::Int64), 8u);
  EXPECT_EQ(dtype_size(DType::BFloat16), 2u);
}

TEST(DType, NamesAreTorchSpellings) {
  EXPECT_EQ(dtype_name(DType::Float32), "float32");
  EXPECT_EQ(dtype_name(DType::Float64), "float64");
  EXPECT_EQ(dtype_name(DType::Int64), "int64");
  EXPECT_EQ(dtype_name(DType::BFloat16), "bfloat16");
}

TEST(DType, ParsesLongAndShortNames) {
  for (DType d : kAllDTypes) EXPECT_EQ(parse_dtype(dtype_name(d)), d);
  EXPECT_EQ(parse_dtype("f32"), DType::Float32);
  EXPECT_EQ(parse_dtype("f64"), DType::Float64);
  EXPECT_EQ(parse_dtype("i64"), DType::Int64);
  EXPECT_EQ(parse_dtype("bf16"), DType::BFloat16);
}

TEST(DType, ParseRejectsUnknownNamesNamingThem) {
  expect_error<std::invalid_argument>([] { parse_dtype("float16"); },
                                      "parse_dtype: unknown dtype 'float16'");
  expect_error<std::invalid_argument>([] { parse_dtype(""); }, "unknown dtype ''");
  expect_error<std::invalid_argument>([] { parse_dtype("F32"); }, "'F32'");
}

TEST(DType, OnlyInt64IsNotFloating) {
  EXPECT_TRUE(is_floating(DType::Float32));
  EXPECT_TRUE(is_floating(DType::Float64));
  EXPECT_TRUE(is_floating(DType::BFloat16));
  EXPECT_FALSE(is_floating(DType::Int64));
}

TEST(DType, VisitDispatchesToTheMatchingType) {
  for (DType d : kAllDTypes) {
    const DType seen = visit_dtype(d, []<class T>() { return dtype_of<T>(); });
    EXPECT_EQ(seen, d);
    EXPECT_EQ(visit_dtype(d, []<class T>() { return sizeof(T); }), dtype_size(d));
  }
}

TEST(DType, VisitRejectsAnOutOfRangeEnum) {
  expect_error<std::invalid_argument>([] { visit_dtype(static_cast<DType>(9), []<class T>() {}); },
                                      "unknown dtype 9");
}

TEST(DType, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(BFloat16(1.00390625f).bits, 0x3F80);  // exactly halfway, even stays
  EXPECT_EQ(BFloat16(1.01171875f).bits, 0x3F82);  // exactly halfway, odd rounds up
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3F80);
  EXPECT_EQ(BFloat16(-2.0f).bits, 0xC000);
}

TEST(DType, BFloat16KeepsNaNAndInfinity) {
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(static_cast<float>(BFloat16(std::numeric_limits<float>::infinity())),
            std::numeric_limits<float>::infinity());
}

TEST(DType, BFloat16RoundTripsRepresentableValues) {
  for (float v : {0.0f, 1.0f, -3.5f, 0.15625f, 256.0f}) {
    EXPECT_EQ(static_cast<float>(BFloat16(v)), v);
  }
}

// ---- Shape ----

TEST(Shape, NumelIsTheProductOfExtents) {
  EXPECT_EQ(numel({2, 3, 4}), 24);
  EXPECT_EQ(numel({}), 1);
  EXPECT_EQ(numel({5, 0, 3}), 0);
  EXPECT_EQ(numel({7}), 7);
}

TEST(Shape, NumelRejectsNegativeExtents) {
  expect_error<std::invalid_argument>(
      [] {
        numel({2, -1});
      },
      "numel: negative extent -1 in shape [2, -1]");
}

TEST(Shape, NumelRejectsOverflow) {
  expect_error<std::invalid_argument>(
      [] {
        numel({1LL << 40, 1LL << 40});
      },
      "more than 2^63 elements");
}

TEST(Shape, StrListsExtents) {
  EXPECT_EQ(shape_str({2, 3}), "[2, 3]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_str({0}), "[0]");
}

TEST(Shape, ParsesTimesSeparatedExtents) {
  EXPECT_EQ(parse_shape("10x5", "--shape"), (Shape{10, 5}));
  EXPECT_EQ(parse_shape("7", "--shape"), (Shape{7}));
  EXPECT_EQ(parse_shape("0x3x1", "--shape"), (Shape{0, 3, 1}));
}

TEST(Shape, ParseRejectsMalformedTextNamingTheArgument) {
  for (const char* bad : {"", "10x", "x5", "10xa", "-1x2", "10 x5", "10x5 ", "1.5", "10X5"}) {
    expect_error<std::invalid_argument>([&] { parse_shape(bad, "--shape"); }, "--shape: ");
  }
  expect_error<std::invalid_argument>([] { parse_shape("4xq", "--global"); },
                                      "--global: bad shape '4xq'");
  expect_error<std::invalid_argument>([] { parse_shape("", "--global"); }, "--global: empty shape");
}

TEST(Shape, ContiguousStridesAreRowMajor) {
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (std::vector<std::int64_t>{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({5}), (std::vector<std::int64_t>{1}));
  EXPECT_TRUE(contiguous_strides({}).empty());
  EXPECT_EQ(contiguous_strides({3, 0, 2}), (std::vector<std::int64_t>{0, 2, 1}));
}

TEST(Shape, NormalizeDimWrapsNegativeDims) {
  EXPECT_EQ(normalize_dim(0, 2, "f"), 0);
  EXPECT_EQ(normalize_dim(1, 2, "f"), 1);
  EXPECT_EQ(normalize_dim(-1, 2, "f"), 1);
  EXPECT_EQ(normalize_dim(-2, 2, "f"), 0);
}

TEST(Shape, NormalizeDimRejectsOutOfRangeNamingCallerDimAndRank) {
  expect_error<std::out_of_range>([] { normalize_dim(3, 2, "narrow"); },
                                  "narrow: dim 3 is out of range for a tensor of 2 dims");
  expect_error<std::out_of_range>([] { normalize_dim(-3, 2, "sum"); },
                                  "sum: dim -3 is out of range for a tensor of 2 dims");
  expect_error<std::out_of_range>([] { normalize_dim(0, 0, "chunk"); },
                                  "chunk: dim 0 is out of range for a tensor of 0 dims");
}

// ---- ReduceOp ----

TEST(ReduceOp, NamesRoundTrip) {
  for (ReduceOp op :
       {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min, ReduceOp::Product}) {
    EXPECT_EQ(parse_reduce_op(reduce_op_name(op)), op);
  }
  EXPECT_EQ(reduce_op_name(ReduceOp::Product), "product");
  EXPECT_EQ(reduce_op_name(ReduceOp::Avg), "avg");
}

TEST(ReduceOp, ParseAcceptsProd) { EXPECT_EQ(parse_reduce_op("prod"), ReduceOp::Product); }

TEST(ReduceOp, ParseRejectsUnknownNamesNamingThem) {
  expect_error<std::invalid_argument>([] { parse_reduce_op("mean"); },
                                      "parse_reduce_op: unknown reduce op 'mean'");
}

// ---- Device and allocators ----

TEST(Device, StrNamesTypeAndIndex) {
  EXPECT_EQ(device_str(cpu()), "cpu");
  EXPECT_EQ(device_str(Device{DeviceType::CUDA, 1}), "cuda:1");
  EXPECT_EQ(cpu(), (Device{DeviceType::CPU, 0}));
  EXPECT_NE(cpu(), (Device{DeviceType::CUDA, 0}));
}

TEST(Device, CpuAllocatorAlignsTo64Bytes) {
  Allocator& a = allocator_for(DeviceType::CPU);
  for (std::size_t n : {0u, 1u, 3u, 64u, 100u, 4097u}) {
    void* p = a.allocate(n);
    EXPECT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u) << "nbytes " << n;
    a.deallocate(p, n);
  }
}

TEST(Device, CpuBytesInUseFollowsTensorLifetimes) {
  const std::size_t before = cpu_bytes_in_use();
  {
    Tensor t = Tensor::empty({10, 3}, DType::Float64);
    EXPECT_EQ(cpu_bytes_in_use(), before + 240);
    Tensor view = t.reshape({30});
    Tensor handle = t;
    EXPECT_EQ(cpu_bytes_in_use(), before + 240);  // views and handles share the bytes
  }
  EXPECT_EQ(cpu_bytes_in_use(), before);
}

TEST(Device, UnregisteredDeviceTypeThrows) {
  expect_error<std::invalid_argument>(
      [] { allocator_for(DeviceType::CUDA); },
      "allocator_for: no allocator registered for device type cuda");
  expect_error<std::invalid_argument>(
      [] {
        Tensor::empty({2}, DType::Float32, Device{DeviceType::CUDA, 0});
      },
      "cuda");
}

TEST(Device, RegisterRejectsNull) {
  expect_error<std::invalid_argument>([] { register_allocator(DeviceType::CUDA, nullptr); },
                                      "register_allocator: allocator for cuda is null");
}

// Counts calls and forwards to the CPU allocator it replaced.
class CountingAllocator final : public Allocator {
 public:
  explicit CountingAllocator(Allocator& inner) : inner_(inner) {}
  void* allocate(std::size_t nbytes) override {
    ++allocations;
    return inner_.allocate(nbytes);
  }
  void deallocate(void* ptr, std::size_t nbytes) override {
    ++deallocations;
    inner_.deallocate(ptr, nbytes);
  }
  int allocations = 0;
  int deallocations = 0;

 private:
  Allocator& inner_;
};

TEST(Device, StorageFreesThroughTheAllocatorThatMadeIt) {
  Allocator& original = allocator_for(DeviceType::CPU);
  CountingAllocator counting(original);
  Tensor before = Tensor::empty({4});
  register_allocator(DeviceType::CPU, &counting);
  Tensor during = Tensor::empty({4});
  EXPECT_EQ(counting.allocations, 1);
  before = Tensor();  // made by the original allocator: not freed through `counting`
  EXPECT_EQ(counting.deallocations, 0);
  register_allocator(DeviceType::CPU, &original);
  during = Tensor();
  EXPECT_EQ(counting.deallocations, 1);
}

}  // namespace
}  // namespace tensorpar
