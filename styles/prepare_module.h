#pragma once
// PrepareModuleInput, PrepareModuleOutput, PrepareModuleInputOutput: convert a module's inputs or
// outputs between layouts without touching its parameters (PyTorch's style.py). They install
// plain hooks, so they stack with each other and with one distributing style.
//
//   // attention receives a sequence-sharded activation and needs it whole:
//   PrepareModuleInput({.input_layouts = Shard(1), .desired_input_layouts = Replicate()})
//   // a two-input module whose second input passes through:
//   PrepareModuleInput({.input_layouts = Layouts{Shard(0), std::nullopt},
//                       .desired_input_layouts = Layouts{Replicate(), std::nullopt}})
//   // keyword inputs:
//   PrepareModuleInput({.input_kwarg_layouts = {{"y", Shard(0)}},
//                       .desired_input_kwarg_layouts = {{"y", Replicate()}}})
//
// Each prepared input: a std::nullopt layout passes it through; a DTensor is used as is; a plain
// tensor is wrapped with from_local(x, mesh, {layout}); then, when the desired layout is given and
// differs, it is redistributed; then to_local() when use_local_output. Outputs likewise.
//
// Errors (PyTorch's texts): "desired module inputs should not be None!", "input_layouts and
// desired_input_layouts should have same length!", "input_kwarg_layouts and
// desired_input_kwarg_layouts should have same length!", "output_layouts and
// desired_output_layouts should have same length!" (std::invalid_argument, at construction);
// "module inputs and input_layouts should have same length!", "module outputs and output_layouts
// should have same length!" (std::invalid_argument, at call time).
#include <map>
#include <optional>
#include <string>

#include "styles/parallel_style.h"

namespace tensorpar {

struct PrepareModuleInputOptions {
  std::optional<Layouts> input_layouts;          // std::nullopt: positional inputs untouched
  std::optional<Layouts> desired_input_layouts;  // required when input_layouts is given
  std::map<std::string, Placement> input_kwarg_layouts;
  std::map<std::string, Placement> desired_input_kwarg_layouts;
  bool use_local_output = false;
};

class PrepareModuleInput : public ParallelStyle {
 public:
  explicit PrepareModuleInput(const PrepareModuleInputOptions& options = {});
  void apply(nn::Module& module, const DeviceMesh& mesh) override;
  std::string repr() const override;

  // The pre-hook's work, also used by PrepareModuleInputOutput.
  nn::ModuleInputs prepare(const nn::ModuleInputs& inputs, const DeviceMesh& mesh) const;

  std::optional<Layouts> input_layouts;
  std::optional<Layouts> desired_input_layouts;
  std::map<std::string, Placement> input_kwarg_layouts;
  std::map<std::string, Placement> desired_input_kwarg_layouts;
  bool use_local_output;
};

struct PrepareModuleOutputOptions {
  Layouts output_layouts;          // required
  Layouts desired_output_layouts;  // required
  bool use_local_output = true;
};

class PrepareModuleOutput : public ParallelStyle {
 public:
  explicit PrepareModuleOutput(const PrepareModuleOutputOptions& options);
  void apply(nn::Module& module, const DeviceMesh& mesh) override;
  std::string repr() const override;

  std::vector<Tensor> prepare(const std::vector<Tensor>& outputs, const DeviceMesh& mesh) const;

  Layouts output_layouts;
  Layouts desired_output_layouts;
  bool use_local_output;
};

struct PrepareModuleInputOutputOptions {
  std::optional<Layouts> input_layouts;
  std::optional<Layouts> desired_input_layouts;
  std::map<std::string, Placement> input_kwarg_layouts;
  std::map<std::string, Placement> desired_input_kwarg_layouts;
  bool use_local_input = false;
  Layouts output_layouts;          // required
  Layouts desired_output_layouts;  // required
  bool use_local_output = true;
};

// PrepareModuleInput then PrepareModuleOutput on the same module.
class PrepareModuleInputOutput : public ParallelStyle {
 public:
  explicit PrepareModuleInputOutput(const PrepareModuleInputOutputOptions& options);
  void apply(nn::Module& module, const DeviceMesh& mesh) override;
  std::string repr() const override;

  PrepareModuleInput input;
  PrepareModuleOutput output;
};

}  // namespace tensorpar
