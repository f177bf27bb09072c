#pragma once
// Counter-based randomness indexed by GLOBAL position (see core/philox.h), so a sharded tensor
// draws exactly the values the single-device tensor would hold at its positions.
//
// A local tensor is the block starting at `offsets` (one per dim) of a global tensor of
// global_shape. The element with global row-major index g takes the stream value at counter
// counter_base + g. Example: global [2, 4], the block of shape [2, 2] at offsets [0, 2] holds the
// values at counters base + {2, 3, 6, 7}; the union of the blocks of any sharding is the
// single-device tensor exactly.
//
// The result lives on `device` (the CPU by default).
//
// Float32 and Float64; other dtypes throw "uniform_block: dtype int64 is not supported".
#include <cstdint>

#include "core/tensor/device.h"
#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// An empty global_shape means "the local tensor is the whole tensor" (offsets empty or zero).
// Otherwise global_shape, offsets and the local shape have one rank, and
// offsets + local_shape <= global_shape in every dim.
struct GlobalBlock {
  Shape global_shape;
  Shape offsets;
};

// Equals tensorpar::rand(global_shape) with Generator(seed, counter_base), restricted to the
// block: uniform_float_at for Float32, uniform_double_at for Float64.
Tensor uniform_block(const Shape& local_shape, DType dtype, std::uint64_t seed,
                     std::uint64_t counter_base, const GlobalBlock& block,
                     Device device = Device{});
// Equals tensorpar::randn likewise: normal_at, rounded for Float32.
Tensor normal_block(const Shape& local_shape, DType dtype, std::uint64_t seed,
                    std::uint64_t counter_base, const GlobalBlock& block, Device device = Device{});
// Dropout's scaled mask: an element is kept iff uniform_float_at(seed, counter_base + g) >= p
// (the float stream whatever the dtype, so Float32 and Float64 masks are identical). Kept
// elements hold 1 / (1 - p), dropped ones 0; p == 1 drops everything. p must be in [0, 1], else
// "dropout: p must be in [0, 1], got 1.5".
Tensor dropout_mask(const Shape& local_shape, DType dtype, double p, std::uint64_t seed,
                    std::uint64_t counter_base, const GlobalBlock& block, Device device = Device{});

}  // namespace tensorpar::kernels
