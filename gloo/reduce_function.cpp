#include "gloo/reduce_function.h"

#include <cstdint>

namespace tensorpar::gloo {

namespace {

template <class T>
using Compute = std::conditional_t<std::is_same_v<T, BFloat16>, float, T>;

template <class T, class Op>
void apply(void* out, const void* a, const void* b, std::size_t n) {
  auto* o = static_cast<T*>(out);
  const auto* x = static_cast<const T*>(a);
  const auto* y = static_cast<const T*>(b);
  for (std::size_t i = 0; i < n; ++i) {
    o[i] = T(Op{}(static_cast<Compute<T>>(x[i]), static_cast<Compute<T>>(y[i])));
  }
}

struct Add {
  template <class A>
  A operator()(A a, A b) const {
    return a + b;
  }
};
struct Multiply {
  template <class A>
  A operator()(A a, A b) const {
    return a * b;
  }
};
struct Larger {
  template <class A>
  A operator()(A a, A b) const {
    return a < b ? b : a;
  }
};
struct Smaller {
  template <class A>
  A operator()(A a, A b) const {
    return b < a ? b : a;
  }
};

}  // namespace

ReduceFunction reduce_function(DType dtype, ReduceOp op) {
  return visit_dtype(dtype, [&]<class T>() -> ReduceFunction {
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Avg:
        return &apply<T, Add>;
      case ReduceOp::Product:
        return &apply<T, Multiply>;
      case ReduceOp::Max:
        return &apply<T, Larger>;
      case ReduceOp::Min:
        return &apply<T, Smaller>;
    }
    throw std::invalid_argument(cat("reduce op ", int(op), " is unknown"));
  });
}

void divide_in_place(DType dtype, void* data, std::size_t n, int divisor) {
  visit_dtype(dtype, [&]<class T>() {
    auto* p = static_cast<T*>(data);
    const auto d = static_cast<Compute<T>>(divisor);
    for (std::size_t i = 0; i < n; ++i) p[i] = T(static_cast<Compute<T>>(p[i]) / d);
  });
}

}  // namespace tensorpar::gloo
