#pragma once
// Stochastic gradient descent with momentum (torch.optim.SGD, same update):
//
//   g = grad + weight_decay * p
//   buf = g                                  (first step)
//   buf = momentum * buf + (1 - dampening) * g
//   g = nesterov ? g + momentum * buf : buf  (when momentum != 0)
//   p -= lr * g
#include <vector>

#include "core/optim/optimizer.h"

namespace tensorpar::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  // Throws std::invalid_argument naming a bad option and its value ("SGD: invalid lr -1 ...").
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  void step() override;

  const SGDOptions& options() const { return options_; }
  void set_lr(double lr);
  // The momentum buffer of parameter i (local layout); undefined before its first update.
  const Tensor& momentum_buffer(std::size_t i) const { return momentum_buffers_.at(i); }

  std::string type_name() const override { return "SGD"; }
  // {momentum_buffer} once the parameter has one (momentum != 0 and an update ran).
  ParamState param_state(std::size_t i) const override;
  void load_param_state(std::size_t i, const ParamState& state) override;

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffers_;
};

}  // namespace tensorpar::optim
