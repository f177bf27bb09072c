// The CPU backend's fused optimizer updates: one loop per parameter, the flags hoisted out as
// template parameters so the loop has no branches and vectorises.
#include <algorithm>
#include <cmath>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

template <class T>
void sgd_update(T* __restrict p, const T* __restrict g, T* __restrict buf, bool first,
                std::int64_t n, const SgdHyper& h) {
  const T lr = static_cast<T>(h.lr), wd = static_cast<T>(h.weight_decay);
  const T mom = static_cast<T>(h.momentum), damp = static_cast<T>(1 - h.dampening);
  if (buf == nullptr) {
    for (std::int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = g[i] + wd * p[i];
    buf[i] = first ? d : mom * buf[i] + damp * d;
    p[i] -= lr * (h.nesterov ? d + mom * buf[i] : buf[i]);
  }
}

template <class T, bool kDecoupled, bool kAmsgrad>
void adam_update(T* __restrict p, const T* __restrict grad, T* __restrict m, T* __restrict v,
                 T* __restrict vmax, std::int64_t n, const AdamHyper& c) {
  const T b1 = T(c.beta1), b2 = T(c.beta2), one_b1 = T(1 - c.beta1), one_b2 = T(1 - c.beta2);
  const T wd = T(c.weight_decay), decay = T(1 - c.lr * c.weight_decay);
  const T step_size = T(c.step_size), bc2_sqrt = T(c.bias_correction2_sqrt), eps = T(c.eps);
  for (std::int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if constexpr (kDecoupled) {
      p[i] *= decay;
    } else {
      g += wd * p[i];
    }
    m[i] = b1 * m[i] + one_b1 * g;
    v[i] = b2 * v[i] + one_b2 * g * g;
    T second = v[i];
    if constexpr (kAmsgrad) {
      vmax[i] = std::max(vmax[i], v[i]);
      second = vmax[i];
    }
    p[i] -= step_size * m[i] / (std::sqrt(second) / bc2_sqrt + eps);
  }
}

}  // namespace

void CpuBackend::sgd_update_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first,
                             const SgdHyper& h) {
  visit_float(param.dtype(), "sgd_update_", [&]<class T>() {
    sgd_update<T>(ptr<T>(param), ptr<T>(grad),
                  momentum_buffer.defined() ? ptr<T>(momentum_buffer) : nullptr, first,
                  param.numel(), h);
  });
}

void CpuBackend::adam_update_(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                              Tensor& exp_avg_sq, Tensor& max_exp_avg_sq, const AdamHyper& h) {
  visit_float(param.dtype(), "adam_update_", [&]<class T>() {
    const bool amsgrad = max_exp_avg_sq.defined();
    T* vmax = amsgrad ? ptr<T>(max_exp_avg_sq) : nullptr;
    auto run = [&]<bool kDecoupled, bool kAmsgrad>() {
      adam_update<T, kDecoupled, kAmsgrad>(ptr<T>(param), ptr<T>(grad), ptr<T>(exp_avg),
                                           ptr<T>(exp_avg_sq), vmax, param.numel(), h);
    };
    if (h.decoupled) {
      amsgrad ? run.template operator()<true, true>() : run.template operator()<true, false>();
    } else {
      amsgrad ? run.template operator()<false, true>() : run.template operator()<false, false>();
    }
  });
}

}  // namespace tensorpar::kernels
