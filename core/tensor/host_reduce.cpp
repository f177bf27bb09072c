#include "core/tensor/host_reduce.h"

#include <cstring>

namespace tensorpar {

namespace {

// Bytes of accumulator per tile: small enough to stay in L1 while every source streams through.
constexpr std::size_t kTileBytes = 16 * 1024;

struct Sum {
  template <class A>
  static A apply(A a, A b) {
    return a + b;
  }
};
struct Product {
  template <class A>
  static A apply(A a, A b) {
    return a * b;
  }
};
struct Max {
  template <class A>
  static A apply(A a, A b) {
    return a < b ? b : a;
  }
};
struct Min {
  template <class A>
  static A apply(A a, A b) {
    return b < a ? b : a;
  }
};

template <class T>
using Accumulator = std::conditional_t<std::is_same_v<T, BFloat16>, float, T>;

template <class T, class A>
inline A load(const T& value) {
  if constexpr (std::is_same_v<T, BFloat16>)
    return static_cast<float>(value);
  else
    return value;
}

template <class T, class A>
void store(std::byte* dst, const A* __restrict acc, std::int64_t n) {
  if constexpr (std::is_same_v<T, A>) {
    std::memcpy(dst, acc, static_cast<std::size_t>(n) * sizeof(T));
  } else {
    T* __restrict out = reinterpret_cast<T*>(dst);
    for (std::int64_t i = 0; i < n; ++i) out[i] = T(acc[i]);
  }
}

template <class T, class Op>
void reduce_typed(std::span<const void* const> srcs, std::span<void* const> dsts,
                  std::int64_t count, bool average) {
  using A = Accumulator<T>;
  constexpr std::int64_t kTile = static_cast<std::int64_t>(kTileBytes / sizeof(A));
  alignas(64) A acc[kTile];
  const std::size_t k = srcs.size();
  for (std::int64_t base = 0; base < count; base += kTile) {
    const std::int64_t n = std::min(kTile, count - base);
    const T* __restrict s0 = reinterpret_cast<const T*>(srcs[0]) + base;
    if (k == 1) {
      for (std::int64_t i = 0; i < n; ++i) acc[i] = load<T, A>(s0[i]);
    } else {
      const T* __restrict s1 = reinterpret_cast<const T*>(srcs[1]) + base;
      for (std::int64_t i = 0; i < n; ++i) acc[i] = Op::apply(load<T, A>(s0[i]), load<T, A>(s1[i]));
    }
    for (std::size_t j = 2; j < k; ++j) {
      const T* __restrict s = reinterpret_cast<const T*>(srcs[j]) + base;
      for (std::int64_t i = 0; i < n; ++i) acc[i] = Op::apply(acc[i], load<T, A>(s[i]));
    }
    if (average) {
      const A divisor = static_cast<A>(k);
      for (std::int64_t i = 0; i < n; ++i) acc[i] = acc[i] / divisor;
    }
    for (void* dst : dsts) store<T, A>(static_cast<std::byte*>(dst) + base * sizeof(T), acc, n);
  }
}

template <class T>
void reduce_dispatch(ReduceOp op, std::span<const void* const> srcs,
                     std::span<void* const> dsts, std::int64_t count) {
  switch (op) {
    case ReduceOp::Sum:
      return reduce_typed<T, Sum>(srcs, dsts, count, false);
    case ReduceOp::Avg:
      return reduce_typed<T, Sum>(srcs, dsts, count, true);
    case ReduceOp::Product:
      return reduce_typed<T, Product>(srcs, dsts, count, false);
    case ReduceOp::Max:
      return reduce_typed<T, Max>(srcs, dsts, count, false);
    case ReduceOp::Min:
      return reduce_typed<T, Min>(srcs, dsts, count, false);
  }
}

}  // namespace

void host_reduce_buffers(DType dtype, ReduceOp op, std::span<const void* const> srcs,
                         std::span<void* const> dsts, std::int64_t count) {
  if (count <= 0 || srcs.empty()) return;
  visit_dtype(dtype, [&]<class T>() { reduce_dispatch<T>(op, srcs, dsts, count); });
}

}  // namespace tensorpar
