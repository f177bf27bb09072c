// The CPU backend's vocab-parallel loss pieces: one pass over the positions, reading and writing
// the target's class of each through the [N, n_local, inner] view (common.h's AxisView).
#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

Tensor CpuBackend::gather_class(const Tensor& values, const Tensor& target,
                                std::int64_t class_offset, std::int64_t classes,
                                std::int64_t ignore_index, const char* what) {
  const AxisView v = sharded_class_view(values.shape());
  Tensor picked = Tensor::empty(target.shape(), values.dtype(), values.device());
  visit_float(values.dtype(), what, [&]<class T>() {
    const T* x = ptr<T>(values);
    const std::int64_t* t = ptr<std::int64_t>(target);
    T* out = ptr<T>(picked);
    for (std::int64_t p = 0; p < v.positions(); ++p) {
      const std::int64_t c = t[p];
      check_arg(c == ignore_index || (c >= 0 && c < classes), what, ": target ", c,
                " is out of range for ", classes, " classes");
      const bool owned = c != ignore_index && c >= class_offset && c < class_offset + v.n;
      out[p] = owned ? x[v.at(p, c - class_offset)] : T(0);
    }
  });
  return picked;
}

Tensor CpuBackend::class_weights(const Tensor& target, const Tensor& weight, std::int64_t classes,
                                 std::int64_t ignore_index, DType dtype, const char* what) {
  Tensor w = Tensor::empty(target.shape(), dtype, target.device());
  visit_float(dtype, what, [&]<class T>() {
    const std::int64_t* t = ptr<std::int64_t>(target);
    const T* table = weight.defined() ? ptr<T>(weight) : nullptr;
    T* out = ptr<T>(w);
    for (std::int64_t p = 0; p < target.numel(); ++p) {
      const std::int64_t c = t[p];
      if (c == ignore_index) {
        out[p] = T(0);
        continue;
      }
      check_arg(c >= 0 && c < classes, what, ": target ", c, " is out of range for ", classes,
                " classes");
      out[p] = table != nullptr ? table[c] : T(1);
    }
  });
  return w;
}

void CpuBackend::scatter_class_add_(Tensor& out, const Tensor& target, const Tensor& src,
                                    std::int64_t class_offset, std::int64_t ignore_index) {
  const char* what = "scatter_class_add_";
  const AxisView v = sharded_class_view(out.shape());
  visit_float(out.dtype(), what, [&]<class T>() {
    T* x = ptr<T>(out);
    const std::int64_t* t = ptr<std::int64_t>(target);
    const T* s = ptr<T>(src);
    for (std::int64_t p = 0; p < v.positions(); ++p) {
      const std::int64_t c = t[p];
      if (c == ignore_index || c < class_offset || c >= class_offset + v.n) continue;
      x[v.at(p, c - class_offset)] += s[p];
    }
  });
}

}  // namespace tensorpar::kernels
