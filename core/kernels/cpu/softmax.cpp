// The CPU backend's softmax family over one dim. The tensor is viewed as [outer, n, inner] around
// `dim`; each outer slab is an (n, inner) row-major Eigen block whose columns are the vectors being
// normalised (inner == 1 is the common last-dim case: one column of contiguous elements).
#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

template <class T>
using Row = Eigen::Array<T, 1, Eigen::Dynamic>;

// softmax or log_softmax of every (n, inner) block of the outer slabs.
Tensor forward(const Tensor& x, std::int64_t dim, const char* what, bool log) {
  const AxisView v = axis_view(x.shape(), dim, what);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  visit_float(x.dtype(), what, [&]<class T>() {
    if (x.numel() == 0) return;
    const T* src = ptr<T>(x);
    T* dst = ptr<T>(y);
    const std::int64_t slab = v.n * v.inner;
    for (std::int64_t o = 0; o < v.outer; ++o) {
      CBlock<T> in(src + o * slab, v.n, v.inner);
      Block<T> out(dst + o * slab, v.n, v.inner);
      const Row<T> max = in.colwise().maxCoeff();
      out = in.rowwise() - max;
      if (log) {
        const Row<T> lse = out.exp().colwise().sum().log();
        out.rowwise() -= lse;
      } else {
        // A masked score (-inf) gets exactly 0: a vectorised exp may clamp -inf to a denormal.
        out = out.isInf().select(T(0), out.exp());
        const Row<T> total = out.colwise().sum();
        out.rowwise() /= total;
      }
    }
  });
  return y;
}

Tensor backward(const Tensor& grad, const Tensor& y, std::int64_t dim, const char* what, bool log) {
  const AxisView v = axis_view(y.shape(), dim, what);
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  visit_float(y.dtype(), what, [&]<class T>() {
    if (y.numel() == 0) return;
    const std::int64_t slab = v.n * v.inner;
    for (std::int64_t o = 0; o < v.outer; ++o) {
      CBlock<T> g(ptr<T>(grad) + o * slab, v.n, v.inner);
      CBlock<T> out(ptr<T>(y) + o * slab, v.n, v.inner);
      Block<T> in(ptr<T>(dx) + o * slab, v.n, v.inner);
      if (log) {
        const Row<T> total = g.colwise().sum();
        in = g - out.exp().rowwise() * total;
      } else {
        const Row<T> dot = (g * out).colwise().sum();
        in = out * (g.rowwise() - dot);
      }
    }
  });
  return dx;
}

}  // namespace

Tensor CpuBackend::softmax(const Tensor& x, std::int64_t dim) {
  return forward(x, dim, "softmax", false);
}

Tensor CpuBackend::log_softmax(const Tensor& x, std::int64_t dim) {
  return forward(x, dim, "log_softmax", true);
}

Tensor CpuBackend::softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) {
  return backward(grad, y, dim, "softmax_backward", false);
}

Tensor CpuBackend::log_softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) {
  return backward(grad, y, dim, "log_softmax_backward", true);
}

}  // namespace tensorpar::kernels
