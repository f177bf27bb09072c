#include "core/optim/sgd.h"

#include <type_traits>

#include "core/comm/comm_debug_mode.h"
#include "core/base/error.h"

namespace tensorpar::optim {

namespace {

void check_options(const SGDOptions& o) {
  check_arg(o.lr >= 0, "SGD: invalid lr ", o.lr, " (must be >= 0)");
  check_arg(o.momentum >= 0, "SGD: invalid momentum ", o.momentum, " (must be >= 0)");
  check_arg(o.weight_decay >= 0, "SGD: invalid weight_decay ", o.weight_decay, " (must be >= 0)");
  check_arg(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
            "SGD: nesterov momentum requires momentum > 0 and dampening 0, got momentum ",
            o.momentum, " and dampening ", o.dampening);
}

template <class T>
void sgd_update(T* __restrict p, const T* __restrict g, T* __restrict buf, bool first,
                std::int64_t n, const SGDOptions& o) {
  const T lr = static_cast<T>(o.lr), wd = static_cast<T>(o.weight_decay);
  const T mom = static_cast<T>(o.momentum), damp = static_cast<T>(1 - o.dampening);
  if (buf == nullptr) {
    for (std::int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = g[i] + wd * p[i];
    buf[i] = first ? d : mom * buf[i] + damp * d;
    p[i] -= lr * (o.nesterov ? d + mom * buf[i] : buf[i]);
  }
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params)), options_(options) {
  check_options(options_);
  momentum_buffers_.resize(this->params().size());
}

void SGD::set_lr(double lr) {
  check_arg(lr >= 0, "SGD: invalid lr ", lr, " (must be >= 0)");
  options_.lr = lr;
}

void SGD::step() {
  CommPhaseScope phase(CommPhase::Optimizer);
  for (std::size_t i = 0; i < params().size(); ++i) {
    Slot s = slot(i, "SGD");
    if (!s.grad.defined()) continue;
    Tensor& buf = momentum_buffers_[i];
    const bool first = !buf.defined();
    if (options_.momentum != 0 && first) buf = Tensor::empty(s.param.shape(), s.param.dtype());
    visit_dtype(s.param.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        sgd_update<T>(s.param.data<T>(), s.grad.data<T>(),
                      options_.momentum != 0 ? buf.data<T>() : nullptr, first, s.param.numel(),
                      options_);
      }
    });
  }
}

}  // namespace tensorpar::optim
