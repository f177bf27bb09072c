// rand / randn: element i of the result is the Philox value at counter gen.offset() + i.
#include "core/tensor/meta_device.h"
#include "core/tensor/philox.h"
#include "core/tensor/tensor.h"

namespace tensorpar {

namespace {

// Fills `out` element by element from the stream, then advances the generator past numel values.
template <class F>
Tensor sample(const Shape& shape, Generator& gen, DType dtype, Device device, const char* what,
              F&& draw) {
  check_arg(is_floating(dtype), what, ": dtype ", dtype_name(dtype), " is not a floating type");
  if (is_meta(device)) {  // nothing to draw into: the shape, and the stream advanced as by a draw
    Tensor out = Tensor::empty(shape, dtype, device);
    gen.advance(std::uint64_t(out.numel()));
    return out;
  }
  // Drawn on the host, then moved: every device gets the CPU's numbers bit for bit.
  Tensor out = Tensor::empty(shape, dtype, cpu());
  const std::uint64_t seed = gen.seed(), offset = gen.offset();
  const auto n = std::uint64_t(out.numel());
  visit_dtype(dtype, [&]<class T>() {
    if constexpr (!std::is_same_v<T, std::int64_t>) {
      T* p = out.data<T>();
      for (std::uint64_t i = 0; i < n; ++i) p[i] = draw.template operator()<T>(seed, offset + i);
    }
  });
  gen.advance(n);
  return out.to(device);
}

}  // namespace

// float32 takes uniform_float_at, float64 uniform_double_at; bfloat16 takes the top 8 bits of
// the float32 draw (truncated, not rounded, so no value rounds up to 1).
Tensor rand(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return sample(shape, gen, dtype, device, "rand", []<class T>(std::uint64_t seed, std::uint64_t c) {
    if constexpr (std::is_same_v<T, double>) {
      return uniform_double_at(seed, c);
    } else if constexpr (std::is_same_v<T, float>) {
      return uniform_float_at(seed, c);
    } else {
      const float u = float(int(uniform_float_at(seed, c) * 256.0f)) / 256.0f;
      return BFloat16(u);
    }
  });
}

// float64 takes normal_at; float32 and bfloat16 round it.
Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return sample(shape, gen, dtype, device, "randn", []<class T>(std::uint64_t seed, std::uint64_t c) {
    if constexpr (std::is_same_v<T, BFloat16>) {
      return BFloat16(float(normal_at(seed, c)));
    } else {
      return T(normal_at(seed, c));
    }
  });
}

}  // namespace tensorpar
