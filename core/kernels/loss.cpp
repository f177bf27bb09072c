// Cross-entropy and NLL loss. The input (N, C, d1, ...) is viewed as [N, C, inner] with
// inner = d1 * ...; target position p = n * inner + k reads class t at (n, t, k). A 1-D input
// (C) with a 0-d target is one position.
#include "core/kernels/loss.h"

#include <limits>
#include <string>

#include "core/kernels/cpu/eigen_kernels.h"
#include "core/kernels/softmax.h"

namespace tensorpar::kernels {

namespace {

template <class T>
using Block = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using CBlock = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// input (C) with a 0-d target, or (N, C, d1, ...) with target (N, d1, ...) of Int64.
AxisView check_target(const Shape& input_shape, const Tensor& target, const char* what,
                       const char* input_name) {
  check_arg(!input_shape.empty(), what, ": ", input_name, " must have at least 1 dim, got []");
  require(target, what, "target");
  check_arg(target.dtype() == DType::Int64, what, ": target must be int64, got ",
            dtype_name(target.dtype()));
  Shape expected = input_shape;
  const std::size_t class_dim = input_shape.size() == 1 ? 0 : 1;
  expected.erase(expected.begin() + std::ptrdiff_t(class_dim));
  check_arg(target.shape() == expected, what, ": target shape ", shape_text(target.shape()),
            " does not match ", input_name, " shape ", shape_text(input_shape), " (expected ",
            shape_text(expected), ")");
  AxisView v;
  v.n = input_shape[class_dim];
  if (class_dim == 1) {
    v.outer = input_shape[0];
    v.inner = numel(Shape(input_shape.begin() + 2, input_shape.end()));
  }
  return v;
}

// weight: undefined, or [C] of the input's dtype.
void check_weight(const Tensor& weight, const AxisView& v, DType dtype, const char* what) {
  if (!weight.defined()) return;
  require(weight, what, "weight");
  check_arg(weight.dim() == 1 && weight.size(0) == v.n, what, ": weight has shape ",
            shape_text(weight.shape()), ", expected [", v.n, "] (one per class)");
  check_arg(weight.dtype() == dtype, what, ": weight dtype ", dtype_name(weight.dtype()),
            " does not match input dtype ", dtype_name(dtype));
}

void check_float(DType dtype, const char* what) {
  check_arg(dtype == DType::Float32 || dtype == DType::Float64, what, ": dtype ", dtype_name(dtype),
            " is not supported");
}

// The class of position p, or -1 when it is ignored; throws for other out-of-range targets.
std::int64_t class_at(const Tensor& target, std::int64_t p, std::int64_t ignore_index,
                      const AxisView& v, const char* what) {
  const std::int64_t t = target.data<std::int64_t>()[p];
  if (t == ignore_index) return -1;
  check_arg(t >= 0 && t < v.n, what, ": target ", t, " is out of range for ", v.n,
            " classes");
  return t;
}

// Sums in double whatever T: the mean's numerator and denominator lose nothing to f32 rounding.
CrossEntropyResult nll_forward(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                               std::int64_t ignore_index, Reduction reduction, const AxisView& v,
                               const char* what) {
  const DType dtype = log_probs.dtype();
  CrossEntropyResult r{Tensor(), log_probs, Tensor::empty({}, dtype)};
  Tensor per = Tensor::empty(target.shape(), dtype);
  visit_float(dtype, what, [&]<class T>() {
    const T* lp = log_probs.data<T>();
    T* loss = per.data<T>();
    double total = 0, total_weight = 0;
    for (std::int64_t p = 0; p < v.positions(); ++p) {
      const std::int64_t t = class_at(target, p, ignore_index, v, what);
      if (t < 0) {
        loss[p] = T(0);
        continue;
      }
      const T w = weight.defined() ? weight.data<T>()[t] : T(1);
      loss[p] = -w * lp[v.at(p, t)];
      total += double(loss[p]);
      total_weight += double(w);
    }
    *r.total_weight.data<T>() = T(total_weight);
    if (reduction == Reduction::None) {
      r.loss = per;
    } else {
      r.loss = Tensor::empty({}, dtype);
      // 0 / 0 is NaN when every position is ignored, as torch gives.
      *r.loss.data<T>() = T(reduction == Reduction::Sum ? total : total / total_weight);
    }
  });
  return r;
}

// The backward's upstream factor per position: grad[p] (none), grad (sum) or
// grad / total_weight (mean). Checks grad and total_weight first.
template <class T>
class Upstream {
 public:
  Upstream(const Tensor& grad, const Tensor& target, Reduction reduction,
           const Tensor& total_weight, DType dtype, const char* what)
      : grad_(grad), reduction_(reduction) {
    require(grad, what, "grad");
    check_arg(grad.dtype() == dtype, what, ": grad dtype ", dtype_name(grad.dtype()),
              " does not match input dtype ", dtype_name(dtype));
    if (reduction == Reduction::None) {
      check_arg(grad.shape() == target.shape(), what, ": grad shape ", shape_text(grad.shape()),
                " must match target shape ", shape_text(target.shape()), " for reduction 'none'");
      return;
    }
    check_arg(grad.numel() == 1, what, ": grad must have one element for reduction '",
              reduction_name(reduction), "', got shape ", shape_text(grad.shape()));
    scalar_ = grad.data<T>()[0];
    if (reduction == Reduction::Mean) {
      require(total_weight, what, "total_weight");
      check_arg(total_weight.numel() == 1 && total_weight.dtype() == dtype, what,
                ": total_weight must be one ", dtype_name(dtype), " element, got shape ",
                shape_text(total_weight.shape()), " of ", dtype_name(total_weight.dtype()));
      scalar_ /= total_weight.data<T>()[0];
    }
  }
  T operator()(std::int64_t p) const {
    return reduction_ == Reduction::None ? grad_.data<T>()[p] : scalar_;
  }

 private:
  const Tensor& grad_;
  Reduction reduction_;
  T scalar_ = T(0);
};

}  // namespace

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::None:
      return "none";
    case Reduction::Mean:
      return "mean";
    case Reduction::Sum:
      return "sum";
  }
  return "?";
}

Reduction parse_reduction(const std::string& s) {
  if (s == "none") return Reduction::None;
  if (s == "mean") return Reduction::Mean;
  if (s == "sum") return Reduction::Sum;
  throw std::invalid_argument(
      cat("cross_entropy: reduction must be none, mean or sum, got '", s, "'"));
}

CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                 std::int64_t ignore_index, Reduction reduction) {
  const char* what = "cross_entropy";
  require(logits, what, "logits");
  check_float(logits.dtype(), what);
  const AxisView v = check_target(logits.shape(), target, what, "logits");
  check_weight(weight, v, logits.dtype(), what);
  const Tensor log_probs = kernels::log_softmax(logits, logits.dim() == 1 ? 0 : 1);
  return nll_forward(log_probs, target, weight, ignore_index, reduction, v, what);
}

CrossEntropyResult nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                            std::int64_t ignore_index, Reduction reduction) {
  const char* what = "nll_loss";
  require(log_probs, what, "log_probs");
  check_float(log_probs.dtype(), what);
  const AxisView v = check_target(log_probs.shape(), target, what, "log_probs");
  check_weight(weight, v, log_probs.dtype(), what);
  return nll_forward(log_probs, target, weight, ignore_index, reduction, v, what);
}

// Per position, a = w[t] * g: the column of the position gets exp(log_probs) * a, minus a at t.
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& target,
                              const Tensor& weight, std::int64_t ignore_index, Reduction reduction,
                              const Tensor& total_weight) {
  const char* what = "cross_entropy_backward";
  require(log_probs, what, "log_probs");
  check_float(log_probs.dtype(), what);
  const AxisView v = check_target(log_probs.shape(), target, what, "log_probs");
  check_weight(weight, v, log_probs.dtype(), what);
  Tensor dx = Tensor::empty(log_probs.shape(), log_probs.dtype());
  visit_float(log_probs.dtype(), what, [&]<class T>() {
    const Upstream<T> g(grad, target, reduction, total_weight, log_probs.dtype(), what);
    Eigen::Array<T, 1, Eigen::Dynamic> a(v.inner);
    const std::int64_t slab = v.n * v.inner;
    for (std::int64_t n = 0; n < v.outer; ++n) {
      for (std::int64_t k = 0; k < v.inner; ++k) {
        const std::int64_t p = n * v.inner + k;
        const std::int64_t t = class_at(target, p, ignore_index, v, what);
        a[k] = t < 0 ? T(0) : (weight.defined() ? weight.data<T>()[t] : T(1)) * g(p);
      }
      Block<T> out(dx.data<T>() + n * slab, v.n, v.inner);
      out = CBlock<T>(log_probs.data<T>() + n * slab, v.n, v.inner).exp().rowwise() * a;
      for (std::int64_t k = 0; k < v.inner; ++k) {
        const std::int64_t t = target.data<std::int64_t>()[n * v.inner + k];
        if (t != ignore_index) out(t, k) -= a[k];
      }
    }
  });
  return dx;
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, const Tensor& weight,
                         std::int64_t ignore_index, Reduction reduction, const Tensor& total_weight,
                         const Shape& input_shape, DType dtype) {
  const char* what = "nll_loss_backward";
  check_float(dtype, what);
  const AxisView v = check_target(input_shape, target, what, "input");
  check_weight(weight, v, dtype, what);
  Tensor dx = zeros(input_shape, dtype);
  visit_float(dtype, what, [&]<class T>() {
    const Upstream<T> g(grad, target, reduction, total_weight, dtype, what);
    T* out = dx.data<T>();
    for (std::int64_t p = 0; p < v.positions(); ++p) {
      const std::int64_t t = class_at(target, p, ignore_index, v, what);
      if (t < 0) continue;
      out[v.at(p, t)] = -(weight.defined() ? weight.data<T>()[t] : T(1)) * g(p);
    }
  });
  return dx;
}

}  // namespace tensorpar::kernels
