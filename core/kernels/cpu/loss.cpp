// The CPU backend's cross-entropy and NLL loss. The input (N, C, d1, ...) is viewed as
// [N, C, inner] with inner = d1 * ...; target position p = n * inner + k reads class t at
// (n, t, k). A 1-D input (C) with a 0-d target is one position.
#include <limits>
#include <string>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/eigen_kernels.h"

namespace tensorpar::kernels {

namespace {

// The class of position p, or -1 when it is ignored; throws for other out-of-range targets.
std::int64_t class_at(const Tensor& target, std::int64_t p, std::int64_t ignore_index,
                      const AxisView& v, const char* what) {
  const std::int64_t t = ptr<std::int64_t>(target)[p];
  if (t == ignore_index) return -1;
  check_arg(t >= 0 && t < v.n, what, ": target ", t, " is out of range for ", v.n, " classes");
  return t;
}

// Sums in double whatever T: the mean's numerator and denominator lose nothing to f32 rounding.
CrossEntropyResult nll_forward(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                               std::int64_t ignore_index, Reduction reduction, const AxisView& v,
                               const char* what) {
  const DType dtype = log_probs.dtype();
  CrossEntropyResult r{Tensor(), log_probs, Tensor::empty({}, dtype, log_probs.device())};
  Tensor per = Tensor::empty(target.shape(), dtype, log_probs.device());
  visit_float(dtype, what, [&]<class T>() {
    const T* lp = ptr<T>(log_probs);
    T* loss = ptr<T>(per);
    double total = 0, total_weight = 0;
    for (std::int64_t p = 0; p < v.positions(); ++p) {
      const std::int64_t t = class_at(target, p, ignore_index, v, what);
      if (t < 0) {
        loss[p] = T(0);
        continue;
      }
      const T w = weight.defined() ? ptr<T>(weight)[t] : T(1);
      loss[p] = -w * lp[v.at(p, t)];
      total += double(loss[p]);
      total_weight += double(w);
    }
    *ptr<T>(r.total_weight) = T(total_weight);
    if (reduction == Reduction::None) {
      r.loss = per;
    } else {
      r.loss = Tensor::empty({}, dtype, log_probs.device());
      // 0 / 0 is NaN when every position is ignored, as torch gives.
      *ptr<T>(r.loss) = T(reduction == Reduction::Sum ? total : total / total_weight);
    }
  });
  return r;
}

// The backward's upstream factor per position: grad[p] (none), grad (sum) or
// grad / total_weight (mean), from checked arguments.
template <class T>
class Upstream {
 public:
  Upstream(const Tensor& grad, Reduction reduction, const Tensor& total_weight)
      : grad_(grad), reduction_(reduction) {
    if (reduction == Reduction::None) return;
    scalar_ = ptr<T>(grad)[0];
    if (reduction == Reduction::Mean) {
      scalar_ /= ptr<T>(total_weight)[0];
    }
  }
  T operator()(std::int64_t p) const {
    return reduction_ == Reduction::None ? ptr<T>(grad_)[p] : scalar_;
  }

 private:
  const Tensor& grad_;
  Reduction reduction_;
  T scalar_ = T(0);
};

}  // namespace

CrossEntropyResult CpuBackend::cross_entropy(const Tensor& logits, const Tensor& target,
                                             const Tensor& weight, std::int64_t ignore_index,
                                             Reduction reduction) {
  const Tensor log_probs = log_softmax(logits, logits.dim() == 1 ? 0 : 1);
  return nll_forward(log_probs, target, weight, ignore_index, reduction, class_view(logits.shape()),
                     "cross_entropy");
}

CrossEntropyResult CpuBackend::nll_loss(const Tensor& log_probs, const Tensor& target,
                                        const Tensor& weight, std::int64_t ignore_index,
                                        Reduction reduction) {
  return nll_forward(log_probs, target, weight, ignore_index, reduction,
                     class_view(log_probs.shape()), "nll_loss");
}

// Per position, a = w[t] * g: the column of the position gets exp(log_probs) * a, minus a at t.
Tensor CpuBackend::cross_entropy_backward(const Tensor& grad, const Tensor& log_probs,
                                          const Tensor& target, const Tensor& weight,
                                          std::int64_t ignore_index, Reduction reduction,
                                          const Tensor& total_weight) {
  const char* what = "cross_entropy_backward";
  const AxisView v = class_view(log_probs.shape());
  Tensor dx = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
  visit_float(log_probs.dtype(), what, [&]<class T>() {
    const Upstream<T> g(grad, reduction, total_weight);
    Eigen::Array<T, 1, Eigen::Dynamic> a(v.inner);
    const std::int64_t slab = v.n * v.inner;
    for (std::int64_t n = 0; n < v.outer; ++n) {
      for (std::int64_t k = 0; k < v.inner; ++k) {
        const std::int64_t p = n * v.inner + k;
        const std::int64_t t = class_at(target, p, ignore_index, v, what);
        a[k] = t < 0 ? T(0) : (weight.defined() ? ptr<T>(weight)[t] : T(1)) * g(p);
      }
      Block<T> out(ptr<T>(dx) + n * slab, v.n, v.inner);
      out = CBlock<T>(ptr<T>(log_probs) + n * slab, v.n, v.inner).exp().rowwise() * a;
      for (std::int64_t k = 0; k < v.inner; ++k) {
        const std::int64_t t = ptr<std::int64_t>(target)[n * v.inner + k];
        if (t != ignore_index) out(t, k) -= a[k];
      }
    }
  });
  return dx;
}

Tensor CpuBackend::nll_loss_backward(const Tensor& grad, const Tensor& target, const Tensor& weight,
                                     std::int64_t ignore_index, Reduction reduction,
                                     const Tensor& total_weight, const Shape& input_shape,
                                     DType dtype) {
  const char* what = "nll_loss_backward";
  const AxisView v = class_view(input_shape);
  Tensor dx = Tensor::empty(input_shape, dtype, target.device());
  visit_float(dtype, what, [&]<class T>() {
    map<T>(dx).setZero();
    const Upstream<T> g(grad, reduction, total_weight);
    T* out = ptr<T>(dx);
    for (std::int64_t p = 0; p < v.positions(); ++p) {
      const std::int64_t t = class_at(target, p, ignore_index, v, what);
      if (t < 0) continue;
      out[v.at(p, t)] = -(weight.defined() ? ptr<T>(weight)[t] : T(1)) * g(p);
    }
  });
  return dx;
}

}  // namespace tensorpar::kernels
