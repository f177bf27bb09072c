#include "core/tensor/reduce_op.h"

#include "core/base/error.h"

namespace tensorpar {

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Avg:
      return "avg";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Min:
      return "min";
    case ReduceOp::Product:
      return "product";
  }
  throw std::invalid_argument(cat("reduce_op_name: unknown reduce op ", int(op)));
}

ReduceOp parse_reduce_op(std::string_view text) {
  if (text == "sum") return ReduceOp::Sum;
  if (text == "avg") return ReduceOp::Avg;
  if (text == "max") return ReduceOp::Max;
  if (text == "min") return ReduceOp::Min;
  if (text == "product" || text == "prod") return ReduceOp::Product;
  throw std::invalid_argument(cat("parse_reduce_op: unknown reduce op '", text,
                                  "' (expected sum, avg, max, min, product or prod)"));
}

}  // namespace tensorpar
