#pragma once
// Optimizer: the base of SGD, Adam and AdamW (torch.optim, one parameter group).
//
//   optim::Adam opt(model.parameters(), {.lr = 1e-2});
//   loss.backward();
//   opt.step();        // updates the parameters in place, outside autograd
//   opt.zero_grad();   // gradients become undefined (set_to_none)
//
// Parameters may be plain tensors or DTensors. A DTensor parameter is updated on its local
// tensor, and its optimizer state has the local layout. A DTensor gradient whose placements
// differ from its parameter's (a Partial gradient from a sequence-parallel norm) is
// redistributed once per step to the parameter's placements (Partial -> Replicate: one
// all_reduce) before the update uses it.
#include <cstddef>
#include <vector>

#include "core/tensor/tensor.h"

namespace tensorpar::optim {

class Optimizer {
 public:
  // Every parameter must be a defined leaf tensor, listed once.
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (the others are skipped).
  virtual void step() = 0;
  // Every parameter's gradient becomes undefined.
  void zero_grad();

  const std::vector<Tensor>& params() const { return params_; }

 protected:
  // What an update works on: the parameter's dense (local) data and its gradient in the same
  // layout. Both share storage with the parameter and gradient; writing to `param` updates the
  // parameter.
  struct Slot {
    Tensor param;
    Tensor grad;
  };
  // The slot of parameter i; grad is undefined when the parameter has no gradient. A DTensor
  // gradient is redistributed to the parameter's placements here, once. `who` names the
  // optimizer in errors.
  Slot slot(std::size_t i, const char* who) const;

 private:
  std::vector<Tensor> params_;
};

}  // namespace tensorpar::optim
