#include "core/optim/adam.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/comm/comm_debug_mode.h"
#include "core/base/error.h"

namespace tensorpar::optim {

namespace {

void check_options(const AdamOptions& o, const char* name) {
  check_arg(o.lr >= 0, name, ": invalid lr ", o.lr, " (must be >= 0)");
  check_arg(o.eps >= 0, name, ": invalid eps ", o.eps, " (must be >= 0)");
  check_arg(o.beta1 >= 0 && o.beta1 < 1, name, ": invalid beta1 ", o.beta1, " (must be in [0, 1))");
  check_arg(o.beta2 >= 0 && o.beta2 < 1, name, ": invalid beta2 ", o.beta2, " (must be in [0, 1))");
  check_arg(o.weight_decay >= 0, name, ": invalid weight_decay ", o.weight_decay,
            " (must be >= 0)");
}

struct Coefficients {
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;              // lr / (1 - beta1^t)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t)
};

// The flags are template parameters so the loop has no branches and vectorises.
template <class T, bool kDecoupled, bool kAmsgrad>
void adam_update(T* __restrict p, const T* __restrict grad, T* __restrict m, T* __restrict v,
                 T* __restrict vmax, std::int64_t n, const Coefficients& c) {
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

AdamOptions as_adam(const AdamWOptions& o) {
  return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad};
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::move(params), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled_weight_decay,
           const char* name)
    : Optimizer(std::move(params)),
      options_(options),
      decoupled_(decoupled_weight_decay),
      name_(name) {
  check_options(options_, name_);
  state_.resize(this->params().size());
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : Adam(std::move(params), as_adam(options), true, "AdamW") {}

void Adam::set_lr(double lr) {
  check_arg(lr >= 0, name_, ": invalid lr ", lr, " (must be >= 0)");
  options_.lr = lr;
}

void Adam::step() {
  CommPhaseScope phase(CommPhase::Optimizer);
  for (std::size_t i = 0; i < params().size(); ++i) {
    Slot s = slot(i, name_);
    if (!s.grad.defined()) continue;
    AdamState& st = state_[i];
    if (st.step == 0) {
      st.exp_avg = zeros(s.param.shape(), s.param.dtype());
      st.exp_avg_sq = zeros(s.param.shape(), s.param.dtype());
      if (options_.amsgrad) st.max_exp_avg_sq = zeros(s.param.shape(), s.param.dtype());
    }
    ++st.step;
    const double t = static_cast<double>(st.step);
    Coefficients c{options_.lr,
                   options_.beta1,
                   options_.beta2,
                   options_.eps,
                   options_.weight_decay,
                   options_.lr / (1 - std::pow(options_.beta1, t)),
                   std::sqrt(1 - std::pow(options_.beta2, t))};
    visit_dtype(s.param.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        T* vmax = options_.amsgrad ? st.max_exp_avg_sq.data<T>() : nullptr;
        auto run = [&]<bool kDecoupled, bool kAmsgrad>() {
          adam_update<T, kDecoupled, kAmsgrad>(s.param.data<T>(), s.grad.data<T>(),
                                               st.exp_avg.data<T>(), st.exp_avg_sq.data<T>(), vmax,
                                               s.param.numel(), c);
        };
        if (decoupled_) {
          options_.amsgrad ? run.template operator()<true, true>()
                           : run.template operator()<true, false>();
        } else {
          options_.amsgrad ? run.template operator()<false, true>()
                           : run.template operator()<false, false>();
        }
      }
    });
  }
}

}  // namespace tensorpar::optim
