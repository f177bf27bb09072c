#pragma once
// Counter-based Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
//
// A stream is a (seed, offset) pair. The value at counter c depends only on (seed, c), so any
// element of a stream can be computed without the ones before it. tensorpar draws element i of
// a random tensor from counter offset + i: a shard that knows its elements' global indices draws
// exactly what the single-device op would draw for them.
#include <array>
#include <cstdint>

namespace tensorpar {

// One Philox4x32-10 block: 4 random 32-bit words for a 128-bit counter and a 64-bit key.
std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> counter,
                                        std::array<std::uint32_t, 2> key);

// The value at `counter` of the stream with `seed`, uniform in [0, 1).
float uniform_float_at(std::uint64_t seed, std::uint64_t counter);
double uniform_double_at(std::uint64_t seed, std::uint64_t counter);
// The value at `counter`, standard normal (Box-Muller over the block's four words).
double normal_at(std::uint64_t seed, std::uint64_t counter);

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
