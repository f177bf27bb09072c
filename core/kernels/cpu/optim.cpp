// The CPU backend's fused optimizer updates: one loop per parameter over optim_step.h's element
// updates (the CUDA kernels run the same ones), the flags hoisted out as template parameters so
// the loop has no branches and vectorises.

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"
#include "core/kernels/optim_step.h"

namespace tensorpar::kernels {

namespace {

template <class T>
void sgd_update(T* __restrict p, const T* __restrict g, T* __restrict buf, bool first,
                std::int64_t n, const SgdHyper& h) {
  const SgdCoefficients<T> c(h);
  if (buf == nullptr) {
    for (std::int64_t i = 0; i < n; ++i) sgd_step<T>(p[i], g[i], nullptr, first, c);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) sgd_step<T>(p[i], g[i], &buf[i], first, c);
}

template <class T, bool kDecoupled, bool kAmsgrad>
void adam_update(T* __restrict p, const T* __restrict grad, T* __restrict m, T* __restrict v,
                 T* __restrict vmax, std::int64_t n, const AdamHyper& h) {
  const AdamCoefficients<T> c(h);
  for (std::int64_t i = 0; i < n; ++i) {
    adam_step<T, kDecoupled, kAmsgrad>(p[i], grad[i], m[i], v[i], kAmsgrad ? &vmax[i] : nullptr, c);
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
