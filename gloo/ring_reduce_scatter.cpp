#include "gloo/ring_reduce_scatter.h"

#include <gloo/context.h>
#include <gloo/transport/unbound_buffer.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>

namespace tensorpar::gloo {

void ring_reduce_scatter(::gloo::Context& context, const std::byte* input, std::byte* output,
                         std::byte* staging, std::size_t block_bytes, std::size_t block_elements,
                         const ReduceFunction& reduce, std::uint64_t slot,
                         std::chrono::milliseconds timeout) {
  using std::chrono::milliseconds;
  using Clock = std::chrono::steady_clock;
  const int w = context.size;
  const int r = context.rank;
  if (w == 1) {
    if (output != input) std::memcpy(output, input, block_bytes);
    return;
  }
  const auto deadline = Clock::now() + timeout;
  auto remaining = [&] {
    return std::max(milliseconds(1),
                    std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  };
  auto block = [&](int b) { return static_cast<std::size_t>(((b % w) + w) % w) * block_bytes; };
  const int right = (r + 1) % w;
  const int left = (r + w - 1) % w;

  // One buffer object per memory region: Gloo allows one pending operation per buffer.
  auto in = context.createUnboundBuffer(const_cast<std::byte*>(input), w * block_bytes);
  std::unique_ptr<::gloo::transport::UnboundBuffer> stage[2] = {
      context.createUnboundBuffer(staging, block_bytes),
      context.createUnboundBuffer(staging + block_bytes, block_bytes)};
  auto out = context.createUnboundBuffer(output, block_bytes);

  // In place (output is block r of input, or overlaps input): the last step still reads this
  // rank's own input block, so it receives into staging and reduces into output afterwards.
  const std::byte* own = input + block(r);
  const std::less<const std::byte*> before;
  const bool aliased =
      before(output, input + w * block_bytes) && before(input, output + block_bytes);
  for (int s = 0; s < w - 1; ++s) {
    const bool last = s == w - 2;
    ::gloo::transport::UnboundBuffer& into = last && !aliased ? *out : *stage[s % 2];
    ::gloo::transport::UnboundBuffer& from = s == 0 ? *in : *stage[(s - 1) % 2];
    into.recv(left, slot);
    if (s == 0) {
      from.send(right, slot, block(r - 1), block_bytes);
    } else {
      from.send(right, slot);
    }
    if (!into.waitRecv(remaining())) throw std::runtime_error("ring reduce_scatter: recv aborted");
    auto* sum = static_cast<std::byte*>(into.ptr);
    if (last && aliased) {
      // After the send: it may still read input, which output overlaps.
      if (!from.waitSend(remaining())) throw std::runtime_error("ring reduce_scatter: send aborted");
      reduce(output, sum, own, block_elements);  // elementwise: output may be own
      break;
    }
    reduce(sum, sum, input + block(r - 2 - s), block_elements);
    if (!from.waitSend(remaining())) throw std::runtime_error("ring reduce_scatter: send aborted");
  }
}

}  // namespace tensorpar::gloo
