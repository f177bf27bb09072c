// The layout entry points: argument checks with the messages every device gives, then the
// input's kernel backend (backend.h).
#include "core/kernels/layout.h"

#include <algorithm>
#include <cstring>

#include "core/base/error.h"
#include "core/kernels/backend.h"

namespace tensorpar::kernels {

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  check_arg(x.defined(), "permute: x is undefined");
  const std::int64_t ndim = x.dim();
  std::vector<std::int64_t> perm(dims.size());
  std::vector<bool> seen(std::size_t(ndim), false);
  bool valid = std::int64_t(dims.size()) == ndim;
  for (std::size_t i = 0; valid && i < dims.size(); ++i) {
    perm[i] = dims[i] < 0 ? dims[i] + ndim : dims[i];
    valid = perm[i] >= 0 && perm[i] < ndim && !seen[std::size_t(perm[i])];
    if (valid) seen[std::size_t(perm[i])] = true;
  }
  check_arg(valid, "permute: dims ", shape_text(dims), " is not a permutation of ", ndim, " dims");

  return backend_for(x).permute(x, perm);
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  check_arg(x.defined(), "transpose: x is undefined");
  const std::int64_t ndim = x.dim();
  const std::int64_t a = normalize_dim(dim0, std::max<std::int64_t>(ndim, 1), "transpose");
  const std::int64_t b = normalize_dim(dim1, std::max<std::int64_t>(ndim, 1), "transpose");
  std::vector<std::int64_t> perm(static_cast<std::size_t>(ndim));
  for (std::int64_t d = 0; d < ndim; ++d) perm[std::size_t(d)] = d;
  if (ndim > 0) std::swap(perm[std::size_t(a)], perm[std::size_t(b)]);
  return kernels::permute(x, perm);
}

}  // namespace tensorpar::kernels
