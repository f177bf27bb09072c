// Philox4x32-10 and the rand/randn streams built on it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "core/tensor/philox.h"
#include "core/ops/ops.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;
using ::testing::ElementsAre;

// ---- the block function ----

// Known-answer tests from Random123 (kat_vectors, philox4x32 with 10 rounds).
TEST(Philox, MatchesRandom123KnownAnswers) {
  EXPECT_THAT(philox4x32({0, 0, 0, 0}, {0, 0}),
              ElementsAre(0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u));
  EXPECT_THAT(
      philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
      ElementsAre(0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu));
  EXPECT_THAT(
      philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
      ElementsAre(0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u));
}

TEST(Philox, UniformFloatIsTheTop24BitsOfWordZero) {
  const std::uint64_t seed = 0x299f31d0a4093822ull, counter = 0x85a308d3243f6a88ull;
  const auto w = philox4x32({0x243f6a88u, 0x85a308d3u, 0, 0}, {0xa4093822u, 0x299f31d0u});
  EXPECT_EQ(uniform_float_at(seed, counter), float(w[0] >> 8) / 16777216.0f);
}

TEST(Philox, UniformDoubleIs53BitsOfWordsZeroAndOne) {
  const auto w = philox4x32({7, 0, 0, 0}, {5, 0});
  const std::uint64_t bits = ((std::uint64_t(w[0]) << 32) | w[1]) >> 11;
  EXPECT_EQ(uniform_double_at(5, 7), double(bits) / 9007199254740992.0);
}

TEST(Philox, NormalIsBoxMullerOverTheBlock) {
  const auto w = philox4x32({3, 1, 0, 0}, {11, 2});
  const double u1 = double((((std::uint64_t(w[0]) << 32) | w[1]) >> 11) + 1) / 9007199254740992.0;
  const double u2 = double(((std::uint64_t(w[2]) << 32) | w[3]) >> 11) / 9007199254740992.0;
  const double expected = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  EXPECT_DOUBLE_EQ(normal_at((2ull << 32) | 11, (1ull << 32) | 3), expected);
}

TEST(Philox, ValuesDependOnlyOnSeedAndCounter) {
  EXPECT_EQ(uniform_double_at(1, 100), uniform_double_at(1, 100));
  EXPECT_NE(uniform_double_at(1, 100), uniform_double_at(1, 101));
  EXPECT_NE(uniform_double_at(1, 100), uniform_double_at(2, 100));
  EXPECT_NE(uniform_double_at(1ull << 32, 0), uniform_double_at(0, 0));  // high seed word counts
  EXPECT_NE(uniform_double_at(0, 1ull << 32), uniform_double_at(0, 0));  // high counter word too
}

TEST(Philox, UniformsStayInTheHalfOpenUnitInterval) {
  for (std::uint64_t c = 0; c < 20000; ++c) {
    const float f = uniform_float_at(9, c);
    const double d = uniform_double_at(9, c);
    ASSERT_TRUE(f >= 0.0f && f < 1.0f) << c;
    ASSERT_TRUE(d >= 0.0 && d < 1.0) << c;
    ASSERT_TRUE(std::isfinite(normal_at(9, c))) << c;
  }
}

TEST(Philox, GeneratorAdvancesItsOffset) {
  Generator g(42, 10);
  EXPECT_EQ(g.seed(), 42u);
  EXPECT_EQ(g.offset(), 10u);
  g.advance(5);
  EXPECT_EQ(g.offset(), 15u);
  g.set_state(7, 3);
  EXPECT_EQ(g.seed(), 7u);
  EXPECT_EQ(g.offset(), 3u);
}

// ---- rand / randn ----

TEST(PhiloxSampling, ElementIIsTheValueAtOffsetPlusI) {
  Generator g(1234, 50);
  Tensor u = rand({2, 3}, g);
  Tensor d = rand({4}, g, DType::Float64);
  Tensor n = randn({3}, g, DType::Float64);
  for (std::uint64_t i = 0; i < 6; ++i)
    EXPECT_EQ(u.data<float>()[i], uniform_float_at(1234, 50 + i));
  for (std::uint64_t i = 0; i < 4; ++i)
    EXPECT_EQ(d.data<double>()[i], uniform_double_at(1234, 56 + i));
  for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(n.data<double>()[i], normal_at(1234, 60 + i));
}

TEST(PhiloxSampling, GeneratorAdvancesByNumel) {
  Generator g(3, 7);
  rand({4, 5}, g);
  EXPECT_EQ(g.offset(), 27u);
  randn({0, 5}, g);
  EXPECT_EQ(g.offset(), 27u);
  randn({}, g, DType::BFloat16);
  EXPECT_EQ(g.offset(), 28u);
  EXPECT_EQ(g.seed(), 3u);
}

TEST(PhiloxSampling, SameStateGivesSameSamples) {
  Generator a(99), b(99);
  EXPECT_TRUE(equal(randn({16}, a), randn({16}, b)));
  EXPECT_TRUE(equal(rand({16}, a), rand({16}, b)));
  EXPECT_FALSE(equal(rand({16}, a), rand({16}, a)));  // the stream moved on
}

// A slice drawn with the generator at offset k equals elements [k, k+n) of the full stream.
void expect_slice_matches_stream(bool normal, DType dtype) {
  const std::uint64_t seed = 2024, start = 17;
  Generator full_gen(seed, start);
  Tensor whole = normal ? randn({40}, full_gen, dtype) : rand({40}, full_gen, dtype);
  for (std::int64_t k : {0, 1, 13, 39}) {
    const std::int64_t len = std::min<std::int64_t>(7, 40 - k);
    Generator g(seed, start + std::uint64_t(k));
    Tensor part = normal ? randn({len}, g, dtype) : rand({len}, g, dtype);
    EXPECT_TRUE(equal(part, whole.narrow(0, k, len))) << "offset " << k;
  }
}

TEST(PhiloxSampling, RandSliceEqualsTheStreamSliceFloat32) {
  expect_slice_matches_stream(false, DType::Float32);
}
TEST(PhiloxSampling, RandSliceEqualsTheStreamSliceFloat64) {
  expect_slice_matches_stream(false, DType::Float64);
}
TEST(PhiloxSampling, RandnSliceEqualsTheStreamSliceFloat32) {
  expect_slice_matches_stream(true, DType::Float32);
}
TEST(PhiloxSampling, RandnSliceEqualsTheStreamSliceFloat64) {
  expect_slice_matches_stream(true, DType::Float64);
}

TEST(PhiloxSampling, ShapeDoesNotChangeTheStream) {
  Generator a(5), b(5);
  EXPECT_TRUE(equal(rand({3, 4}, a).reshape({12}), rand({12}, b)));
}

TEST(PhiloxSampling, Float32RandnRoundsTheFloat64Stream) {
  Generator a(8), b(8);
  EXPECT_TRUE(equal(randn({32}, a), randn({32}, b, DType::Float64).to(DType::Float32)));
}

TEST(PhiloxSampling, BFloat16RandStaysBelowOne) {
  Generator g(77);
  Tensor u = rand({20000}, g, DType::BFloat16);
  EXPECT_LT(max(u).item(), 1.0);
  EXPECT_GE(min(u).item(), 0.0);
}

TEST(PhiloxSampling, RejectsIntegerDtypes) {
  Generator g(1);
  expect_error<std::invalid_argument>([&] { rand({2}, g, DType::Int64); },
                                      "rand: dtype int64 is not a floating type");
  expect_error<std::invalid_argument>([&] { randn({2}, g, DType::Int64); },
                                      "randn: dtype int64 is not a floating type");
  EXPECT_EQ(g.offset(), 0u);
}

// 1e5 samples: the standard error of the mean is ~0.003 (normal) and ~0.0009 (uniform), so
// these bounds are many standard errors wide yet catch a wrong scale or shift.
TEST(PhiloxSampling, UniformMomentsMatch) {
  for (DType d : {DType::Float32, DType::Float64}) {
    Generator g(31337);
    Tensor u = rand({100000}, g, d).to(DType::Float64);
    const double mean = sum(u).item() / 1e5;
    const double var = sum(mul(u, u)).item() / 1e5 - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.005) << dtype_name(d);
    EXPECT_NEAR(var, 1.0 / 12.0, 0.002) << dtype_name(d);
    EXPECT_GE(min(u).item(), 0.0);
    EXPECT_LT(max(u).item(), 1.0);
  }
}

TEST(PhiloxSampling, NormalMomentsMatch) {
  for (DType d : {DType::Float32, DType::Float64}) {
    Generator g(4242);
    Tensor n = randn({100000}, g, d).to(DType::Float64);
    const double mean = sum(n).item() / 1e5;
    const double var = sum(mul(n, n)).item() / 1e5 - mean * mean;
    EXPECT_NEAR(mean, 0.0, 0.02) << dtype_name(d);
    EXPECT_NEAR(var, 1.0, 0.02) << dtype_name(d);
    // About 31.7% of a standard normal lies beyond one standard deviation.
    const std::vector<double> v = to_vector<double>(n);
    const double tail =
        double(std::count_if(v.begin(), v.end(), [](double x) { return std::abs(x) > 1; })) / 1e5;
    EXPECT_NEAR(tail, 0.3173, 0.01) << dtype_name(d);
  }
}

}  // namespace
}  // namespace tensorpar
