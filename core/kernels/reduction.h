#pragma once
// How a loss combines its per-position values: none keeps them (the target's shape), sum adds
// them, mean divides the sum by the total weight of the positions not ignored. Declared here,
// below the kernels that take it; core/ops/ops.h re-exports it for users of the ops.
#include <string>

namespace tensorpar::kernels {

enum class Reduction { None, Mean, Sum };

// "none", "mean", "sum".
const char* reduction_name(Reduction r);
// The inverse of reduction_name; "cross_entropy: reduction must be none, mean or sum, got 'x'".
Reduction parse_reduction(const std::string& s);

}  // namespace tensorpar::kernels
