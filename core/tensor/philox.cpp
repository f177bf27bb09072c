#include "core/tensor/philox.h"

#include <cmath>

namespace tensorpar {

namespace {

constexpr std::uint32_t kM0 = 0xD2511F53u;
constexpr std::uint32_t kM1 = 0xCD9E8D57u;
constexpr std::uint32_t kW0 = 0x9E3779B9u;
constexpr std::uint32_t kW1 = 0xBB67AE85u;

std::array<std::uint32_t, 4> block_at(std::uint64_t seed, std::uint64_t counter) {
  return philox4x32({std::uint32_t(counter), std::uint32_t(counter >> 32), 0u, 0u},
                    {std::uint32_t(seed), std::uint32_t(seed >> 32)});
}

// 53 random bits from two words, `high` supplying the upper 32.
std::uint64_t bits53(std::uint32_t high, std::uint32_t low) {
  return ((std::uint64_t(high) << 32) | low) >> 11;
}

constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;  // 2^-53
constexpr float kTwoPow24Inv = 1.0f / 16777216.0f;         // 2^-24

}  // namespace

std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> counter,
                                        std::array<std::uint32_t, 2> key) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t(kM0) * counter[0];
    const std::uint64_t p1 = std::uint64_t(kM1) * counter[2];
    counter = {std::uint32_t(p1 >> 32) ^ counter[1] ^ key[0], std::uint32_t(p1),
               std::uint32_t(p0 >> 32) ^ counter[3] ^ key[1], std::uint32_t(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return counter;
}

// Top 24 bits of word 0 times 2^-24: every value is an exact float below 1.
float uniform_float_at(std::uint64_t seed, std::uint64_t counter) {
  return float(block_at(seed, counter)[0] >> 8) * kTwoPow24Inv;
}

// Word 0 (high) and word 1 (low) give 53 bits, times 2^-53.
double uniform_double_at(std::uint64_t seed, std::uint64_t counter) {
  const auto w = block_at(seed, counter);
  return double(bits53(w[0], w[1])) * kTwoPow53Inv;
}

// Box-Muller: u1 in (0, 1] from words 0 and 1 (never 0, so the log is finite), u2 in [0, 1)
// from words 2 and 3; returns sqrt(-2 ln u1) cos(2 pi u2).
double normal_at(std::uint64_t seed, std::uint64_t counter) {
  const auto w = block_at(seed, counter);
  const double u1 = double(bits53(w[0], w[1]) + 1) * kTwoPow53Inv;
  const double u2 = double(bits53(w[2], w[3])) * kTwoPow53Inv;
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

}  // namespace tensorpar
