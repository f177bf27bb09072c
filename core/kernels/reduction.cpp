#include "core/kernels/reduction.h"

#include <stdexcept>

#include "core/base/error.h"

namespace tensorpar::kernels {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::None:
      return "none";
    case Reduction::Mean:
      return "mean";
    case Reduction::Sum:
      return "sum";
  }
  return "?";
}

Reduction parse_reduction(const std::string& s) {
  if (s == "none") return Reduction::None;
  if (s == "mean") return Reduction::Mean;
  if (s == "sum") return Reduction::Sum;
  throw std::invalid_argument(
      cat("cross_entropy: reduction must be none, mean or sum, got '", s, "'"));
}

}  // namespace tensorpar::kernels
