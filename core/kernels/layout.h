#pragma once
// Layout CPU kernels: dim permutations as contiguous copies. Any dtype (only bytes move).
//
//   x = iota([2, 3])                      // [[0, 1, 2], [3, 4, 5]]
//   transpose(x, 0, 1)                    // [[0, 3], [1, 4], [2, 5]]
//   permute(iota([2, 3, 4]), {2, 0, 1})   // shape [4, 2, 3]; out[i, j, k] == x[j, k, i]
//
// Copies move contiguous runs where the permutation keeps the innermost dim in place (the
// attention head swap (b, s, h, d) -> (b, h, s, d) copies runs of d) and tiles the last-two-dims
// transpose so both source and destination are read and written a cache line at a time.
#include <cstdint>
#include <vector>

#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// out.shape[i] == x.shape[dims[i]]: a contiguous copy; negative dims allowed.
// "permute: dims [0, 0] is not a permutation of 2 dims".
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
// Swaps dim0 and dim1 (negative allowed), via permute.
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);

// The shape of the concatenation of `tensors` along `dim` (negative allowed; *normalized gets it
// in [0, ndim)), after checking that every other extent, the dtypes and the devices agree:
// "cat: tensors[1] has shape [2, 4] but tensors[0] has shape [3, 3] (only dim 0 may differ)".
// Reads shapes only, so on DTensors it checks the global shapes.
Shape cat_shape(const std::vector<Tensor>& tensors, std::int64_t dim, std::int64_t* normalized);
// Concatenation along `dim` into a new tensor (not recorded for autograd; tensorpar::cat is the
// differentiable op, for DTensors too).
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim);

}  // namespace tensorpar::kernels
