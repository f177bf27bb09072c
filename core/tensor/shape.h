#pragma once
// Shapes are plain vectors of non-negative extents, row-major (the last dim varies fastest).
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace tensorpar {

using Shape = std::vector<std::int64_t>;

// Product of the extents; 1 for a 0-d shape.
std::int64_t numel(const Shape& shape);
// "[2, 3]"; "[]" for a 0-d shape.
std::string shape_str(const Shape& shape);
// The same text, formatted only when streamed: check_arg(ok, "bad shape ", shape_text(s)) costs
// nothing unless the check fails.
struct ShapeText {
  const Shape& shape;
};
inline ShapeText shape_text(const Shape& shape) { return ShapeText{shape}; }
std::ostream& operator<<(std::ostream& os, ShapeText text);
// "10x5" style parsing for command lines ("10x5" -> [10, 5]); throws naming `what` on bad text.
Shape parse_shape(const std::string& text, const std::string& what);
// Row-major strides in elements: [2, 3, 4] -> [12, 4, 1].
std::vector<std::int64_t> contiguous_strides(const Shape& shape);
// Wraps a negative dim against `ndim` (-1 -> ndim-1) and checks the range; `what` names the
// caller and argument in the error: "narrow: dim 3 is out of range for a tensor of 2 dims".
std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, const char* what);

}  // namespace tensorpar
