#pragma once
// Counter-based Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
//
// A stream is a (seed, offset) pair. The value at counter c depends only on (seed, c), so any
// element of a stream can be computed without the ones before it. tensorpar draws element i of
// a random tensor from counter offset + i: a shard that knows its elements' global indices draws
// exactly what the single-device op would draw for them.
//
// The functions are header-only and marked TENSORPAR_HOST_DEVICE (__host__ __device__ under
// nvcc), so a device kernel computes the same words as the host: the uniform draws and dropout
// masks match bit for bit on every device. normal_at uses log, sqrt and cos, whose device
// versions may differ from the host's in the last bits; the normal sampler therefore draws on the
// host (core/tensor/random.cpp) and moves the values.
#include <array>
#include <cmath>
#include <cstdint>

#include "core/base/host_device.h"

namespace tensorpar {

namespace philox_detail {

inline constexpr std::uint32_t kM0 = 0xD2511F53u;
inline constexpr std::uint32_t kM1 = 0xCD9E8D57u;
inline constexpr std::uint32_t kW0 = 0x9E3779B9u;
inline constexpr std::uint32_t kW1 = 0xBB67AE85u;
inline constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;  // 2^-53
inline constexpr float kTwoPow24Inv = 1.0f / 16777216.0f;         // 2^-24

// Ten rounds on c (4 words) with key k (2 words), in place.
TENSORPAR_HOST_DEVICE inline void rounds(std::uint32_t c[4], std::uint32_t k0, std::uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t(kM0) * c[0];
    const std::uint64_t p1 = std::uint64_t(kM1) * c[2];
    const std::uint32_t n0 = std::uint32_t(p1 >> 32) ^ c[1] ^ k0;
    const std::uint32_t n2 = std::uint32_t(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0;
    c[1] = std::uint32_t(p1);
    c[2] = n2;
    c[3] = std::uint32_t(p0);
    k0 += kW0;
    k1 += kW1;
  }
}

// The block of the stream `seed` at `counter`: counter in words 0-1, seed as the key.
TENSORPAR_HOST_DEVICE inline void block_at(std::uint64_t seed, std::uint64_t counter,
                                           std::uint32_t w[4]) {
  w[0] = std::uint32_t(counter);
  w[1] = std::uint32_t(counter >> 32);
  w[2] = 0u;
  w[3] = 0u;
  rounds(w, std::uint32_t(seed), std::uint32_t(seed >> 32));
}

// 53 random bits from two words, `high` supplying the upper 32.
TENSORPAR_HOST_DEVICE inline std::uint64_t bits53(std::uint32_t high, std::uint32_t low) {
  return ((std::uint64_t(high) << 32) | low) >> 11;
}

}  // namespace philox_detail

// One Philox4x32-10 block: 4 random 32-bit words for a 128-bit counter and a 64-bit key.
inline std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> counter,
                                               std::array<std::uint32_t, 2> key) {
  philox_detail::rounds(counter.data(), key[0], key[1]);
  return counter;
}

// The value at `counter` of the stream with `seed`, uniform in [0, 1): the top 24 bits of word 0
// times 2^-24 (every value an exact float below 1).
TENSORPAR_HOST_DEVICE inline float uniform_float_at(std::uint64_t seed, std::uint64_t counter) {
  std::uint32_t w[4];
  philox_detail::block_at(seed, counter, w);
  return float(w[0] >> 8) * philox_detail::kTwoPow24Inv;
}

// Word 0 (high) and word 1 (low) give 53 bits, times 2^-53.
TENSORPAR_HOST_DEVICE inline double uniform_double_at(std::uint64_t seed, std::uint64_t counter) {
  std::uint32_t w[4];
  philox_detail::block_at(seed, counter, w);
  return double(philox_detail::bits53(w[0], w[1])) * philox_detail::kTwoPow53Inv;
}

// The value at `counter`, standard normal. Box-Muller: u1 in (0, 1] from words 0 and 1 (never 0,
// so the log is finite), u2 in [0, 1) from words 2 and 3; sqrt(-2 ln u1) cos(2 pi u2).
TENSORPAR_HOST_DEVICE inline double normal_at(std::uint64_t seed, std::uint64_t counter) {
  std::uint32_t w[4];
  philox_detail::block_at(seed, counter, w);
  const double u1 = double(philox_detail::bits53(w[0], w[1]) + 1) * philox_detail::kTwoPow53Inv;
  const double u2 = double(philox_detail::bits53(w[2], w[3])) * philox_detail::kTwoPow53Inv;
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0, std::uint64_t offset = 0)
      : seed_(seed), offset_(offset) {}
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Moves the stream past n values.
  void advance(std::uint64_t n) { offset_ += n; }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_;
};

}  // namespace tensorpar
