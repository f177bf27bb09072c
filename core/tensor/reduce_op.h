#pragma once
#include <string_view>

namespace tensorpar {

// Reduction of collectives and of Partial placements.
enum class ReduceOp { Sum, Avg, Max, Min, Product };

// "sum", "avg", "max", "min", "product".
std::string_view reduce_op_name(ReduceOp op);
// Accepts the names above and "prod"; throws std::invalid_argument naming the text otherwise.
ReduceOp parse_reduce_op(std::string_view text);

}  // namespace tensorpar
