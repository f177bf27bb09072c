// The CPU backend's layer norm and RMS norm over the last dim: one pass per contiguous row of D
// elements.
#include <cmath>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

// x.shape without the last dim: the shape of the per-row statistics.
Shape stats_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 1); }

// A zero [D] tensor of x's dtype on x's device.
Tensor zeros_like_on(const Tensor& x, std::int64_t D) {
  Tensor t = Tensor::empty({D}, x.dtype(), x.device());
  visit_float(x.dtype(), "norm", [&]<class T>() { map<T>(t).setZero(); });
  return t;
}

// The rows of a [..., D] tensor: row r is D contiguous elements starting at r * D.
struct Rows {
  std::int64_t count, width;
  explicit Rows(const Tensor& x) : count(numel(stats_shape(x))), width(x.size(-1)) {}
};

}  // namespace

NormResult CpuBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  double eps) {
  const Rows rows(x);
  NormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()),
               Tensor::empty(stats_shape(x), x.dtype(), x.device()),
               Tensor::empty(stats_shape(x), x.dtype(), x.device())};
  visit_float(x.dtype(), "layer_norm", [&]<class T>() {
    const std::int64_t D = rows.width;
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> in(ptr<T>(x) + i * D, D);
      Map<T> out(ptr<T>(r.y) + i * D, D);
      const T mean = in.sum() / T(D);
      out = in - mean;
      const T var = out.square().sum() / T(D);
      const T rstd = T(1) / std::sqrt(var + T(eps));
      out *= rstd;
      if (weight.defined()) out *= CMap<T>(ptr<T>(weight), D);
      if (bias.defined()) out += CMap<T>(ptr<T>(bias), D);
      ptr<T>(r.mean)[i] = mean;
      ptr<T>(r.rstd)[i] = rstd;
    }
  });
  return r;
}

// With xhat = (x - mean) * rstd and g = grad * weight, per row of D elements:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dweight = sum_rows grad * xhat,
//   dbias = sum_rows grad.
NormGrads CpuBackend::layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                          const Tensor& mean, const Tensor& rstd, bool need_weight,
                                          bool need_bias) {
  const Rows rows(x);
  const std::int64_t D = rows.width;
  NormGrads grads{Tensor::empty(x.shape(), x.dtype(), x.device())};
  if (need_weight) grads.weight = zeros_like_on(x, D);
  if (need_bias) grads.bias = zeros_like_on(x, D);
  visit_float(x.dtype(), "layer_norm_backward", [&]<class T>() {
    Vec<T> xhat(D), g(D);
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> dy(ptr<T>(grad) + i * D, D);
      const T s = ptr<T>(rstd)[i];
      xhat = (CMap<T>(ptr<T>(x) + i * D, D) - ptr<T>(mean)[i]) * s;
      if (weight.defined()) {
        g = dy * CMap<T>(ptr<T>(weight), D);
      } else {
        g = dy;
      }
      const T mean_g = g.sum() / T(D);
      const T mean_gx = (g * xhat).sum() / T(D);
      Map<T>(ptr<T>(grads.x) + i * D, D) = s * (g - mean_g - xhat * mean_gx);
      if (need_weight) Map<T>(ptr<T>(grads.weight), D) += dy * xhat;
      if (need_bias) Map<T>(ptr<T>(grads.bias), D) += dy;
    }
  });
  return grads;
}

NormResult CpuBackend::rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const Rows rows(x);
  NormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor(),
               Tensor::empty(stats_shape(x), x.dtype(), x.device())};
  visit_float(x.dtype(), "rms_norm", [&]<class T>() {
    const std::int64_t D = rows.width;
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> in(ptr<T>(x) + i * D, D);
      Map<T> out(ptr<T>(r.y) + i * D, D);
      const T rstd = T(1) / std::sqrt(in.square().sum() / T(D) + T(eps));
      out = in * rstd;
      if (weight.defined()) out *= CMap<T>(ptr<T>(weight), D);
      ptr<T>(r.rstd)[i] = rstd;
    }
  });
  return r;
}

// With xhat = x * rstd and g = grad * weight, per row of D elements:
//   dx = rstd * (g - xhat * mean(g * xhat)),  dweight = sum_rows grad * xhat.
NormGrads CpuBackend::rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                        const Tensor& rstd, bool need_weight) {
  const Rows rows(x);
  const std::int64_t D = rows.width;
  NormGrads grads{Tensor::empty(x.shape(), x.dtype(), x.device())};
  if (need_weight) grads.weight = zeros_like_on(x, D);
  visit_float(x.dtype(), "rms_norm_backward", [&]<class T>() {
    Vec<T> xhat(D), g(D);
    for (std::int64_t i = 0; i < rows.count; ++i) {
      CMap<T> dy(ptr<T>(grad) + i * D, D);
      const T s = ptr<T>(rstd)[i];
      xhat = CMap<T>(ptr<T>(x) + i * D, D) * s;
      if (weight.defined()) {
        g = dy * CMap<T>(ptr<T>(weight), D);
      } else {
        g = dy;
      }
      const T mean_gx = (g * xhat).sum() / T(D);
      Map<T>(ptr<T>(grads.x) + i * D, D) = s * (g - xhat * mean_gx);
      if (need_weight) Map<T>(ptr<T>(grads.weight), D) += dy * xhat;
    }
  });
  return grads;
}

}  // namespace tensorpar::kernels
