#pragma once
// One element of the fused optimizer updates of optim.h, shared by the CPU backend's loops and
// the CUDA kernels: both run these operations in this order, so a CUDA step equals the CPU's
// bit for bit (sqrt and division are correctly rounded on both).
//
//   AdamCoefficients<float> c(hyper);                 // once per parameter, on the host
//   for (i...) adam_step<float, false, false>(p[i], g[i], m[i], v[i], nullptr, c);
#include <cmath>

#include "core/base/host_device.h"
#include "core/kernels/optim.h"

namespace tensorpar::kernels {

template <class T>
struct SgdCoefficients {
  T lr, wd, momentum, one_minus_dampening;
  bool nesterov;
  explicit SgdCoefficients(const SgdHyper& h)
      : lr(T(h.lr)),
        wd(T(h.weight_decay)),
        momentum(T(h.momentum)),
        one_minus_dampening(T(1 - h.dampening)),
        nesterov(h.nesterov) {}
};

// buffer == nullptr: plain SGD (no momentum buffer); otherwise `first` says whether it is the
// buffer's first step (it then takes d as is).
template <class T>
TENSORPAR_HOST_DEVICE inline void sgd_step(T& param, T grad, T* buffer, bool first,
                                           const SgdCoefficients<T>& c) {
  const T d = grad + c.wd * param;
  if (buffer == nullptr) {
    param -= c.lr * d;
    return;
  }
  *buffer = first ? d : c.momentum * *buffer + c.one_minus_dampening * d;
  param -= c.lr * (c.nesterov ? d + c.momentum * *buffer : *buffer);
}

template <class T>
struct AdamCoefficients {
  T beta1, beta2, one_minus_beta1, one_minus_beta2, wd, decay, step_size, bias_correction2_sqrt,
      eps;
  explicit AdamCoefficients(const AdamHyper& h)
      : beta1(T(h.beta1)),
        beta2(T(h.beta2)),
        one_minus_beta1(T(1 - h.beta1)),
        one_minus_beta2(T(1 - h.beta2)),
        wd(T(h.weight_decay)),
        decay(T(1 - h.lr * h.weight_decay)),
        step_size(T(h.step_size)),
        bias_correction2_sqrt(T(h.bias_correction2_sqrt)),
        eps(T(h.eps)) {}
};

// kDecoupled: AdamW's decay of the parameter instead of L2 in the gradient. kAmsgrad: vmax (the
// running maximum of v) stands for v in the denominator.
template <class T, bool kDecoupled, bool kAmsgrad>
TENSORPAR_HOST_DEVICE inline void adam_step(T& param, T grad, T& m, T& v, T* vmax,
                                            const AdamCoefficients<T>& c) {
  if constexpr (kDecoupled) {
    param *= c.decay;
  } else {
    grad += c.wd * param;
  }
  m = c.beta1 * m + c.one_minus_beta1 * grad;
  v = c.beta2 * v + c.one_minus_beta2 * grad * grad;
  T second = v;
  if constexpr (kAmsgrad) {
    *vmax = *vmax < v ? v : *vmax;
    second = *vmax;
  }
  param -= c.step_size * m / (std::sqrt(second) / c.bias_correction2_sqrt + c.eps);
}

}  // namespace tensorpar::kernels
