#pragma once
// Internal: the dense, non-recording kernels behind the arithmetic and reduction ops of ops.h
// for equal shapes, every dtype (bfloat16 through float32, int64 wrapping) and no autograd.
// The ops in ops.h call these for plain tensors; nothing else should need them.
#include <cstdint>

#include "core/tensor/tensor.h"

namespace tensorpar::dense {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor sub(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor div(const Tensor& a, double s);

Tensor sum(const Tensor& t);
Tensor max(const Tensor& t);
Tensor min(const Tensor& t);
Tensor prod(const Tensor& t);
Tensor sum(const Tensor& t, std::int64_t dim, bool keepdim);
Tensor max(const Tensor& t, std::int64_t dim, bool keepdim);
Tensor min(const Tensor& t, std::int64_t dim, bool keepdim);
Tensor prod(const Tensor& t, std::int64_t dim, bool keepdim);

}  // namespace tensorpar::dense
