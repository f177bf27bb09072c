// Layer norm and RMS norm over the last dim: one pass per contiguous row of D elements.
#include "core/kernels/norm.h"

#include <cmath>

#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

// x.shape without the last dim: the shape of the per-row statistics.
Shape stats_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 1); }

void check_input(const Tensor& x, const char* what) {
  require(x, what, "input");
  check_arg(x.dim() >= 1, what, ": input must have at least 1 dim, got a 0-d tensor");
  check_arg(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, what, ": dtype ",
            dtype_name(x.dtype()), " is not supported");
}

// A [D] tensor of x's dtype, when defined.
void check_param(const Tensor& p, const Tensor& x, const char* what, const char* arg) {
  if (!p.defined()) return;
  require(p, what, arg);
  const Shape expected{x.size(-1)};
  check_arg(p.shape() == expected, what, ": ", arg, " has shape ", shape_text(p.shape()),
            ", expected ", shape_text(expected));
  check_arg(p.dtype() == x.dtype(), what, ": ", arg, " dtype ", dtype_name(p.dtype()),
            " does not match input dtype ", dtype_name(x.dtype()));
}

// grad like x; the statistics of x's stats shape and dtype.
void check_backward(const Tensor& grad, const Tensor& x, const Tensor& stat, const char* what,
                    const char* arg) {
  require(grad, what, "grad");
  check_arg(grad.shape() == x.shape(), what, ": grad shape ", shape_text(grad.shape()),
            " does not match input shape ", shape_text(x.shape()));
  check_arg(grad.dtype() == x.dtype(), what, ": grad dtype ", dtype_name(grad.dtype()),
            " does not match input dtype ", dtype_name(x.dtype()));
  require(stat, what, arg);
  const Shape expected = stats_shape(x);
  check_arg(stat.shape() == expected && stat.dtype() == x.dtype(), what, ": ", arg, " has shape ",
            shape_text(stat.shape()), " and dtype ", dtype_name(stat.dtype()), ", expected ",
            shape_text(expected), " and ", dtype_name(x.dtype()));
}

// The rows of a [..., D] tensor: row r is D contiguous elements starting at r * D.
struct Rows {
  std::int64_t count, width;
  explicit Rows(const Tensor& x) : count(numel(stats_shape(x))), width(x.size(-1)) {}
};

}  // namespace

NormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* what = "layer_norm";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  check_param(bias, x, what, "bias");
  const Rows rows(x);
  NormResult r{Tensor::empty(x.shape(), x.dtype()), Tensor::empty(stats_shape(x), x.dtype()),
               Tensor::empty(stats_shape(x), x.dtype())};
  visit_float(x.dtype(), what, [&]<class T>() {
    const std::int64_t D = rows.width;
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> in(x.data<T>() + i * D, D);
      Map<T> out(r.y.data<T>() + i * D, D);
      const T mean = in.sum() / T(D);
      out = in - mean;
      const T var = out.square().sum() / T(D);
      const T rstd = T(1) / std::sqrt(var + T(eps));
      out *= rstd;
      if (weight.defined()) out *= CMap<T>(weight.data<T>(), D);
      if (bias.defined()) out += CMap<T>(bias.data<T>(), D);
      r.mean.data<T>()[i] = mean;
      r.rstd.data<T>()[i] = rstd;
    }
  });
  return r;
}

// With xhat = (x - mean) * rstd and g = grad * weight, per row of D elements:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dweight = sum_rows grad * xhat,
//   dbias = sum_rows grad.
NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                              const Tensor& mean, const Tensor& rstd, bool need_weight,
                              bool need_bias) {
  const char* what = "layer_norm_backward";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  check_backward(grad, x, mean, what, "mean");
  check_backward(grad, x, rstd, what, "rstd");
  check_arg(!need_weight || weight.defined(), what,
            ": need_weight is set but weight is undefined (no affine transform)");
  const Rows rows(x);
  const std::int64_t D = rows.width;
  NormGrads grads{Tensor::empty(x.shape(), x.dtype())};
  if (need_weight) grads.weight = zeros({D}, x.dtype());
  if (need_bias) grads.bias = zeros({D}, x.dtype());
  visit_float(x.dtype(), what, [&]<class T>() {
    Vec<T> xhat(D), g(D);
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> dy(grad.data<T>() + i * D, D);
      const T s = rstd.data<T>()[i];
      xhat = (CMap<T>(x.data<T>() + i * D, D) - mean.data<T>()[i]) * s;
      if (weight.defined()) {
        g = dy * CMap<T>(weight.data<T>(), D);
      } else {
        g = dy;
      }
      const T mean_g = g.sum() / T(D);
      const T mean_gx = (g * xhat).sum() / T(D);
      Map<T>(grads.x.data<T>() + i * D, D) = s * (g - mean_g - xhat * mean_gx);
      if (need_weight) Map<T>(grads.weight.data<T>(), D) += dy * xhat;
      if (need_bias) Map<T>(grads.bias.data<T>(), D) += dy;
    }
  });
  return grads;
}

NormResult rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const char* what = "rms_norm";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  const Rows rows(x);
  NormResult r{Tensor::empty(x.shape(), x.dtype()), Tensor(),
               Tensor::empty(stats_shape(x), x.dtype())};
  visit_float(x.dtype(), what, [&]<class T>() {
    const std::int64_t D = rows.width;
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> in(x.data<T>() + i * D, D);
      Map<T> out(r.y.data<T>() + i * D, D);
      const T rstd = T(1) / std::sqrt(in.square().sum() / T(D) + T(eps));
      out = in * rstd;
      if (weight.defined()) out *= CMap<T>(weight.data<T>(), D);
      r.rstd.data<T>()[i] = rstd;
    }
  });
  return r;
}

// With xhat = x * rstd and g = grad * weight, per row of D elements:
//   dx = rstd * (g - xhat * mean(g * xhat)),  dweight = sum_rows grad * xhat.
NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            const Tensor& rstd, bool need_weight) {
  const char* what = "rms_norm_backward";
  check_input(x, what);
  check_param(weight, x, what, "weight");
  check_backward(grad, x, rstd, what, "rstd");
  check_arg(!need_weight || weight.defined(), what,
            ": need_weight is set but weight is undefined (no affine transform)");
  const Rows rows(x);
  const std::int64_t D = rows.width;
  NormGrads grads{Tensor::empty(x.shape(), x.dtype())};
  if (need_weight) grads.weight = zeros({D}, x.dtype());
  visit_float(x.dtype(), what, [&]<class T>() {
    Vec<T> xhat(D), g(D);
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> dy(grad.data<T>() + i * D, D);
      const T s = rstd.data<T>()[i];
      xhat = CMap<T>(x.data<T>() + i * D, D) * s;
      if (weight.defined()) {
        g = dy * CMap<T>(weight.data<T>(), D);
      } else {
        g = dy;
      }
      const T mean_gx = (g * xhat).sum() / T(D);
      Map<T>(grads.x.data<T>() + i * D, D) = s * (g - xhat * mean_gx);
      if (need_weight) Map<T>(grads.weight.data<T>(), D) += dy * xhat;
    }
  });
  return grads;
}

}  // namespace tensorpar::kernels
