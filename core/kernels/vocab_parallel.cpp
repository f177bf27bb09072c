// The vocab-parallel loss entry points: argument checks with the messages every device gives,
// then the inputs' kernel backend (backend.h).
#include "core/kernels/vocab_parallel.h"

#include "core/kernels/backend.h"
#include "core/kernels/common.h"

namespace tensorpar::kernels {

namespace {

void check_float(DType dtype, const char* what, const char* arg) {
  check_arg(dtype == DType::Float32 || dtype == DType::Float64, what, ": ", arg, " dtype ",
            dtype_name(dtype), " is not supported");
}

void check_int64_target(const Tensor& target, const char* what) {
  require(target, what, "target");
  check_arg(target.dtype() == DType::Int64, what, ": target must be int64, got ",
            dtype_name(target.dtype()));
}

// A class-sharded tensor (n_local) with a 0-d target, or (N, n_local, d1, ...) with target
// (N, d1, ...).
void check_positions(const Tensor& sharded, const Tensor& target, const char* what,
                     const char* arg) {
  check_arg(sharded.dim() >= 1, what, ": ", arg, " must have at least 1 dim, got []");
  Shape expected = sharded.shape();
  expected.erase(expected.begin() + (sharded.dim() == 1 ? 0 : 1));
  check_arg(target.shape() == expected, what, ": target shape ", shape_text(target.shape()),
            " does not match ", arg, " shape ", shape_text(sharded.shape()), " (expected ",
            shape_text(expected), ")");
}

std::int64_t local_classes(const Tensor& sharded) {
  return sharded.size(sharded.dim() == 1 ? 0 : 1);
}

}  // namespace

Tensor gather_class(const Tensor& values, const Tensor& target, std::int64_t class_offset,
                    std::int64_t classes, std::int64_t ignore_index, const char* what) {
  require(values, what, "values");
  check_float(values.dtype(), what, "values");
  check_int64_target(target, what);
  check_positions(values, target, what, "values");
  const std::int64_t n_local = local_classes(values);
  check_arg(class_offset >= 0 && class_offset + n_local <= classes, what, ": local classes [",
            class_offset, ", ", class_offset + n_local, ") exceed ", classes, " classes");
  return backend_for({&values, &target}, {"values", "target"}, what)
      .gather_class(values, target, class_offset, classes, ignore_index, what);
}

Tensor class_weights(const Tensor& target, const Tensor& weight, std::int64_t classes,
                     std::int64_t ignore_index, DType dtype, const char* what) {
  check_int64_target(target, what);
  check_float(dtype, what, "result");
  check_arg(classes >= 0, what, ": classes ", classes, " must be non-negative");
  if (weight.defined()) {
    check_arg(weight.dim() == 1 && weight.size(0) == classes, what, ": weight has shape ",
              shape_text(weight.shape()), ", expected [", classes, "] (one per class)");
    check_arg(weight.dtype() == dtype, what, ": weight dtype ", dtype_name(weight.dtype()),
              " does not match dtype ", dtype_name(dtype));
  }
  return backend_for({&target, &weight}, {"target", "weight"}, what)
      .class_weights(target, weight, classes, ignore_index, dtype, what);
}

void scatter_class_add_(Tensor& out, const Tensor& target, const Tensor& src,
                        std::int64_t class_offset, std::int64_t ignore_index) {
  const char* what = "scatter_class_add_";
  require(out, what, "out");
  check_float(out.dtype(), what, "out");
  check_int64_target(target, what);
  check_positions(out, target, what, "out");
  require(src, what, "src");
  check_arg(src.shape() == target.shape(), what, ": src shape ", shape_text(src.shape()),
            " must match target shape ", shape_text(target.shape()));
  require_same_dtype(src, out, what, "src", "out");
  check_arg(class_offset >= 0, what, ": class_offset ", class_offset, " must be non-negative");
  backend_for({&out, &target, &src}, {"out", "target", "src"}, what)
      .scatter_class_add_(out, target, src, class_offset, ignore_index);
}

}  // namespace tensorpar::kernels
