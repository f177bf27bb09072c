#include "core/tensor/shape.h"

#include <charconv>
#include <limits>
#include <sstream>

#include "core/base/error.h"

namespace tensorpar {

std::int64_t numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t extent : shape) {
    // The messages are built only on failure: numel sits on every tensor op's path.
    if (extent < 0) {
      throw std::invalid_argument(
          cat("numel: negative extent ", extent, " in shape ", shape_str(shape)));
    }
    if (extent != 0 && n > std::numeric_limits<std::int64_t>::max() / extent) {
      throw std::invalid_argument(
          cat("numel: shape ", shape_str(shape), " has more than 2^63 elements"));
    }
    n *= extent;
  }
  return n;
}

std::ostream& operator<<(std::ostream& os, ShapeText text) { return os << shape_str(text.shape); }

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

Shape parse_shape(const std::string& text, const std::string& what) {
  check_arg(!text.empty(), what, ": empty shape (expected extents like 10x5)");
  Shape shape;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = text.find('x', pos);
    std::string part = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    check_arg(!part.empty() && ec == std::errc() && ptr == part.data() + part.size() && value >= 0,
              what, ": bad shape '", text, "' (expected non-negative extents like 10x5)");
    shape.push_back(value);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return shape;
}

std::vector<std::int64_t> contiguous_strides(const Shape& shape) {
  std::vector<std::int64_t> strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, const char* what) {
  std::int64_t wrapped = dim < 0 ? dim + ndim : dim;
  if (wrapped < 0 || wrapped >= ndim) {
    throw std::out_of_range(
        cat(what, ": dim ", dim, " is out of range for a tensor of ", ndim, " dims"));
  }
  return wrapped;
}

}  // namespace tensorpar
