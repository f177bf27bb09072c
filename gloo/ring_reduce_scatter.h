#pragma once
// Reduce-scatter as a ring over Gloo's unbound buffers (Gloo has no new-style reduce_scatter).
//
// Rank r of W sends to r + 1 and receives from r - 1 (mod W). In step s = 0 .. W-2 it sends the
// partial sum of block (r - 1 - s) and receives the partial sum of block (r - 2 - s), which it
// combines with its own input block; after the last step block r holds all W contributions and
// lands in `output`. Worked example, W = 3, rank 0: step 0 sends x0[2] and receives x2[1], keeps
// x2[1] + x0[1]; step 1 sends that and receives x1[0] + x2[0], stores x1[0] + x2[0] + x0[0]. Each
// rank sends W - 1 blocks, the least a reduce-scatter can; two block-sized buffers stage sums.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "gloo/reduce_function.h"

namespace gloo {
class Context;
}

namespace tensorpar::gloo {

// input: W blocks of block_bytes; output: block_bytes; staging: 2 * block_bytes of scratch.
// All W ranks call it with the same slot.
// Throws what Gloo throws (gloo::IoException on a timeout or a broken connection).
void ring_reduce_scatter(::gloo::Context& context, const std::byte* input, std::byte* output,
                         std::byte* staging, std::size_t block_bytes, std::size_t block_elements,
                         const ReduceFunction& reduce, std::uint64_t slot,
                         std::chrono::milliseconds timeout);

}  // namespace tensorpar::gloo
