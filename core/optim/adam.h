#pragma once
// Adam and AdamW (torch.optim.Adam / AdamW, same update, amsgrad off by default). Per parameter,
// with t the parameter's step count:
//
//   Adam:   g = grad + weight_decay * p              (L2 penalty into the gradient)
//   AdamW:  p *= 1 - lr * weight_decay               (decoupled decay), g = grad
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g²                 (amsgrad: v_max = max(v_max, v), used below)
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#include <cstdint>
#include <vector>

#include "core/optim/optimizer.h"

namespace tensorpar::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

// The state of one parameter, in its local layout; tensors undefined before its first update.
struct AdamState {
  std::int64_t step = 0;
  Tensor exp_avg;
  Tensor exp_avg_sq;
  Tensor max_exp_avg_sq;  // amsgrad only
};

class Adam : public Optimizer {
 public:
  // Throws std::invalid_argument naming a bad option and its value
  // ("Adam: invalid beta1 1.5 (must be in [0, 1))").
  Adam(std::vector<Tensor> params, const AdamOptions& options);
  void step() override;

  const AdamOptions& options() const { return options_; }
  void set_lr(double lr);
  const AdamState& state(std::size_t i) const { return state_.at(i); }

  std::string type_name() const override { return name_; }
  // {exp_avg, exp_avg_sq (, max_exp_avg_sq)} and {step}; empty before the first update.
  ParamState param_state(std::size_t i) const override;
  void load_param_state(std::size_t i, const ParamState& state) override;

 protected:
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled_weight_decay,
       const char* name);

 private:
  AdamOptions options_;
  bool decoupled_;
  const char* name_;
  std::vector<AdamState> state_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options);
};

}  // namespace tensorpar::optim
