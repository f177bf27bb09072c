#pragma once
// Reduction kernels: sums and means over any set of dims, max along one dim and its backward;
// checked here, run on the input's device through backend.h.
//
// Inputs are dense row-major tensors; results are new tensors of the input dtype and device. float32 and
// float64 everywhere; sum also takes int64 (wrapping modulo 2^64) and so does max_dim. Anything
// else throws "<op>: dtype bfloat16 is not supported".
//
//   x = [[0, 1, 2],
//        [3, 4, 5]]
//   sum(x, {}, false)   == 15                  (empty dims: every dim)
//   sum(x, {0}, false)  == [3, 5, 7]
//   sum(x, {-1}, true)  == [[3], [12]]
//   mean(x, {0, 1}, false) == 2.5
//   max_dim(x, 1, false) == {values [2, 5], indices [2, 2]}
#include <cstdint>
#include <vector>

#include "core/tensor/shape.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// The reductions of ops.h (sum, max, min, prod) over every element or one dim, for every dtype:
// bfloat16 reduces in float32 and rounds the result once, int64 sum/prod wrap modulo 2^64,
// max/min propagate NaN as torch does. Max and min of nothing throw ("min: cannot reduce an
// empty tensor of shape [0]"); sum and prod of nothing are 0 and 1.
enum class ReduceOp { Sum, Max, Min, Prod };
// "sum", "max", "min", "prod".
const char* reduce_name(ReduceOp op);
// A 0-d tensor.
Tensor reduce(ReduceOp op, const Tensor& x);
// Along one dim (negative counts from the end); keepdim leaves it as extent 1.
Tensor reduce(ReduceOp op, const Tensor& x, std::int64_t dim, bool keepdim);

// dims may be negative and in any order; an empty dims list means all dims. Duplicates throw
// ("sum: dim 1 appears twice in dims [1, -1]"). keepdim leaves each reduced dim as extent 1.
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim);
// sum / (number of reduced elements); empty input -> NaN like torch. Float only.
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim);

// Max along one dim with the index of the first maximum (Int64 indices). NaN counts as the
// maximum, as in torch: the first NaN wins. Empty reduced dim throws.
struct MaxResult {
  Tensor values;
  Tensor indices;
};
MaxResult max_dim(const Tensor& x, std::int64_t dim, bool keepdim);
// Scatters grad (shape of values) to the argmax positions: a tensor of input_shape, zero
// elsewhere. max_dim_backward([7, 8], [2, 0], [2, 3], 1, false) == [[0, 0, 7], [8, 0, 0]].
Tensor max_dim_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape,
                        std::int64_t dim, bool keepdim);

}  // namespace tensorpar::kernels
