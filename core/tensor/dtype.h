#pragma once
// Element types. float32/float64 for arithmetic, int64 for indices, bfloat16 for storage and
// conversion (arithmetic on bfloat16 goes through float32).
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/base/error.h"

namespace tensorpar {

enum class DType : std::uint8_t { Float32, Float64, Int64, BFloat16 };

// Brain float: the upper 16 bits of an IEEE float32. Conversion from float rounds to nearest
// even (NaN stays NaN): 1.00390625f (0x3F808000) -> 0x3F80, 1.01171875f (0x3F818000) -> 0x3F82.
struct BFloat16 {
  std::uint16_t bits = 0;

  BFloat16() = default;
  explicit BFloat16(float value) : bits(round_from_float(value)) {}
  explicit operator float() const {
    std::uint32_t u = std::uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  static std::uint16_t round_from_float(float value) {
    std::uint32_t u;
    std::memcpy(&u, &value, sizeof u);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0) {
      return std::uint16_t((u >> 16) | 0x0040u);  // quiet NaN
    }
    std::uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
    return std::uint16_t((u + rounding) >> 16);
  }
  friend bool operator==(BFloat16 a, BFloat16 b) { return a.bits == b.bits; }
};

std::size_t dtype_size(DType dtype);
// "float32", "float64", "int64", "bfloat16".
std::string_view dtype_name(DType dtype);
// Accepts the names above and the short forms f32, f64, i64, bf16.
DType parse_dtype(std::string_view text);
bool is_floating(DType dtype);

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::Float32;
  else if constexpr (std::is_same_v<T, double>) return DType::Float64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::Int64;
  else if constexpr (std::is_same_v<T, BFloat16>) return DType::BFloat16;
  else static_assert(sizeof(T) == 0, "unsupported element type");
}

// Calls fn.template operator()<T>() with the C++ type of `dtype`:
//   visit_dtype(t.dtype(), [&]<class T>() { use(t.data<T>()); });
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& fn) {
  switch (dtype) {
    case DType::Float32: return fn.template operator()<float>();
    case DType::Float64: return fn.template operator()<double>();
    case DType::Int64: return fn.template operator()<std::int64_t>();
    case DType::BFloat16: return fn.template operator()<BFloat16>();
  }
  throw std::invalid_argument(cat("unknown dtype ", int(dtype)));
}

}  // namespace tensorpar
