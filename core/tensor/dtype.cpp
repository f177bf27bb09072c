#include "core/tensor/dtype.h"

namespace tensorpar {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::BFloat16:
      return 2;
  }
  throw std::invalid_argument(cat("dtype_size: unknown dtype ", int(dtype)));
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::BFloat16:
      return "bfloat16";
  }
  throw std::invalid_argument(cat("dtype_name: unknown dtype ", int(dtype)));
}

DType parse_dtype(std::string_view text) {
  if (text == "float32" || text == "f32") return DType::Float32;
  if (text == "float64" || text == "f64") return DType::Float64;
  if (text == "int64" || text == "i64") return DType::Int64;
  if (text == "bfloat16" || text == "bf16") return DType::BFloat16;
  throw std::invalid_argument(cat("parse_dtype: unknown dtype '", text,
                                  "' (expected float32, float64, int64, bfloat16 or f32, f64, "
                                  "i64, bf16)"));
}

bool is_floating(DType dtype) {
  switch (dtype) {
    case DType::Float32:
    case DType::Float64:
    case DType::BFloat16:
      return true;
    case DType::Int64:
      return false;
  }
  throw std::invalid_argument(cat("is_floating: unknown dtype ", int(dtype)));
}

}  // namespace tensorpar
