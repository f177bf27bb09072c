// The random-block entry points: argument checks with the messages every device gives, then the
// device's kernel backend (backend.h).
#include "core/kernels/random_block.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/base/error.h"
#include "core/kernels/backend.h"

namespace tensorpar::kernels {

namespace {

// The block with an empty global_shape resolved to the whole tensor, after the checks.
GlobalBlock resolve(const Shape& local_shape, const GlobalBlock& block, const char* what) {
  for (std::int64_t extent : local_shape) {
    check_arg(extent >= 0, what, ": local shape ", shape_text(local_shape),
              " has a negative extent");
  }
  if (block.global_shape.empty()) {
    const bool at_origin = std::all_of(block.offsets.begin(), block.offsets.end(),
                                       [](std::int64_t o) { return o == 0; });
    check_arg(at_origin && (block.offsets.empty() || block.offsets.size() == local_shape.size()),
              what, ": offsets ", shape_text(block.offsets),
              " given without a global shape (an empty global shape means the whole tensor)");
    GlobalBlock whole{local_shape, Shape()};
    whole.offsets.resize(local_shape.size());
    return whole;
  }
  const GlobalBlock& b = block;
  check_arg(b.global_shape.size() == local_shape.size() && b.offsets.size() == local_shape.size(),
            what, ": local shape ", shape_text(local_shape), ", global shape ",
            shape_text(b.global_shape), " and offsets ", shape_text(b.offsets),
            " must have the same rank");
  for (std::size_t k = 0; k < local_shape.size(); ++k) {
    check_arg(b.offsets[k] >= 0 && b.offsets[k] + local_shape[k] <= b.global_shape[k], what,
              ": the block of shape ", shape_text(local_shape), " at offsets ",
              shape_text(b.offsets), " exceeds global shape ", shape_text(b.global_shape),
              " in dim ", k);
  }
  return b;
}

// The dtypes every random block takes.
void check_dtype(DType dtype, const char* what) {
  check_arg(dtype == DType::Float32 || dtype == DType::Float64, what, ": dtype ", dtype_name(dtype),
            " is not supported");
}

}  // namespace

Tensor uniform_block(const Shape& local_shape, DType dtype, std::uint64_t seed,
                     std::uint64_t counter_base, const GlobalBlock& block, Device device) {
  const GlobalBlock b = resolve(local_shape, block, "uniform_block");
  check_dtype(dtype, "uniform_block");
  return kernel_backend(device.type)
      .uniform_block(local_shape, dtype, device, seed, counter_base, b);
}

Tensor normal_block(const Shape& local_shape, DType dtype, std::uint64_t seed,
                    std::uint64_t counter_base, const GlobalBlock& block, Device device) {
  const GlobalBlock b = resolve(local_shape, block, "normal_block");
  check_dtype(dtype, "normal_block");
  return kernel_backend(device.type)
      .normal_block(local_shape, dtype, device, seed, counter_base, b);
}

Tensor dropout_mask(const Shape& local_shape, DType dtype, double p, std::uint64_t seed,
                    std::uint64_t counter_base, const GlobalBlock& block, Device device) {
  check_arg(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  const GlobalBlock b = resolve(local_shape, block, "dropout");
  check_dtype(dtype, "dropout");
  return kernel_backend(device.type)
      .dropout_mask(local_shape, dtype, device, p, seed, counter_base, b);
}

}  // namespace tensorpar::kernels
