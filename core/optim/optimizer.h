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
#include <cstdint>
#include <string>
#include <utility>
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

  // ---- state for checkpoints (core/checkpoint) ----
  // "SGD", "Adam", "AdamW": a checkpoint's optimizer state loads only into the same kind.
  virtual std::string type_name() const = 0;
  // The state of one parameter: named tensors in the parameter's local layout (so they follow
  // its placements) and named counters. Adam after 3 updates: tensors {exp_avg, exp_avg_sq},
  // counters {step: 3}; every optimizer: empty before the parameter's first update.
  struct ParamState {
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::vector<std::pair<std::string, std::int64_t>> counters;
  };
  virtual ParamState param_state(std::size_t i) const = 0;
  // Replaces parameter i's state with one param_state gave (tensors in the local layout, on the
  // parameter's device). Throws std::invalid_argument naming a missing, unexpected or misshapen
  // entry.
  virtual void load_param_state(std::size_t i, const ParamState& state) = 0;

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
  // load_param_state's checks: every name of `expected` present in `state` and nothing else,
  // every tensor shaped, typed and placed like parameter i's local data.
  void check_param_state(std::size_t i, const ParamState& state,
                         const std::vector<std::string>& expected_tensors,
                         const std::vector<std::string>& expected_counters) const;
  // The tensor or counter `name` of `state` (present: check_param_state ran).
  static const Tensor& state_tensor(const ParamState& state, const std::string& name);
  static std::int64_t state_counter(const ParamState& state, const std::string& name);

 private:
  std::vector<Tensor> params_;
};

}  // namespace tensorpar::optim
