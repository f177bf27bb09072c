#include "styles/prepare_module.h"

#include "core/base/error.h"
#include "styles/style_util.h"

namespace tensorpar {

namespace {

// One input or output: nullopt layout passes through; a plain tensor is wrapped in `layout`; a
// DTensor is used as is; then redistributed to `desired` when given; then local if asked.
Tensor prepare_one(const Tensor& x, const std::optional<Placement>& layout,
                   const std::optional<Placement>& desired, bool use_local,
                   const DeviceMesh& mesh, const char* who) {
  if (!layout) return x;
  check_arg(x.defined(), who, ": expecting input to be a torch.Tensor!");
  DTensor d = styles_detail::to_dtensor(x, mesh, *layout, desired, who);
  if (use_local) return d.to_local();
  return d;
}

void check_mesh(const DeviceMesh& mesh, const char* style) {
  check_arg(mesh.valid() && mesh.ndim() == 1, style, ": expects a 1-D device mesh, got ",
            mesh.valid() ? mesh.str() : std::string("an empty mesh handle"));
}

void check_output_lengths(const Layouts& out, const Layouts& desired) {
  check_arg(out.size() == desired.size(),
            "output_layouts and desired_output_layouts should have same length! (got ",
            out.size(), " and ", desired.size(), ")");
  check_arg(!out.empty(), "PrepareModuleOutput: output_layouts is required");
}

}  // namespace

std::string Layouts::str() const {
  std::string s = "(";
  for (std::size_t i = 0; i < items_.size(); ++i) {
    if (i > 0) s += ", ";
    s += items_[i] ? items_[i]->str() : "None";
  }
  if (items_.size() == 1) s += ",";
  return s + ")";
}

PrepareModuleInput::PrepareModuleInput(const PrepareModuleInputOptions& options)
    : input_layouts(options.input_layouts),
      desired_input_layouts(options.desired_input_layouts),
      input_kwarg_layouts(options.input_kwarg_layouts),
      desired_input_kwarg_layouts(options.desired_input_kwarg_layouts),
      use_local_output(options.use_local_output) {
  if (input_layouts) {
    check_arg(desired_input_layouts.has_value(), "desired module inputs should not be None!");
    check_arg(input_layouts->size() == desired_input_layouts->size(),
              "input_layouts and desired_input_layouts should have same length! (got ",
              input_layouts->size(), " and ", desired_input_layouts->size(), ")");
  }
  check_arg(input_kwarg_layouts.size() == desired_input_kwarg_layouts.size(),
            "input_kwarg_layouts and desired_input_kwarg_layouts should have same length! (got ",
            input_kwarg_layouts.size(), " and ", desired_input_kwarg_layouts.size(), ")");
}

nn::ModuleInputs PrepareModuleInput::prepare(const nn::ModuleInputs& inputs,
                                             const DeviceMesh& mesh) const {
  nn::ModuleInputs out = inputs;
  if (input_layouts) {
    check_arg(inputs.args.size() == input_layouts->size(),
              "module inputs and input_layouts should have same length! (got ", inputs.args.size(),
              " inputs and ", input_layouts->size(), " layouts)");
    for (std::size_t i = 0; i < inputs.args.size(); ++i) {
      out.args[i] = prepare_one(inputs.args[i], (*input_layouts)[i], (*desired_input_layouts)[i],
                                use_local_output, mesh, "PrepareModuleInput");
    }
  }
  for (auto& [name, value] : out.kwargs) {
    auto layout = input_kwarg_layouts.find(name);
    if (layout == input_kwarg_layouts.end()) continue;
    auto desired = desired_input_kwarg_layouts.find(name);
    std::optional<Placement> want;
    if (desired != desired_input_kwarg_layouts.end()) want = desired->second;
    value = prepare_one(value, layout->second, want, use_local_output, mesh, "PrepareModuleInput");
  }
  return out;
}

void PrepareModuleInput::apply(nn::Module& module, const DeviceMesh& mesh) {
  check_mesh(mesh, "PrepareModuleInput");
  PrepareModuleInput self = *this;
  DeviceMesh m = mesh;
  module.register_forward_pre_hook(
      [self, m](nn::Module&, const nn::ModuleInputs& inputs) -> std::optional<nn::ModuleInputs> {
        return self.prepare(inputs, m);
      });
}

std::string PrepareModuleInput::repr() const {
  auto kw = [](const std::map<std::string, Placement>& m) {
    std::string s = "{";
    for (const auto& [k, v] : m) s += (s.size() > 1 ? ", " : "") + k + ": " + v.str();
    return s + "}";
  };
  return cat("PrepareModuleInput(input_layouts=", input_layouts ? input_layouts->str() : "None",
             ", desired_input_layouts=",
             desired_input_layouts ? desired_input_layouts->str() : "None",
             ", input_kwarg_layouts=", kw(input_kwarg_layouts), ", desired_input_kwarg_layouts=",
             kw(desired_input_kwarg_layouts), ", use_local_output=",
             use_local_output ? "true" : "false", ")");
}

PrepareModuleOutput::PrepareModuleOutput(const PrepareModuleOutputOptions& options)
    : output_layouts(options.output_layouts),
      desired_output_layouts(options.desired_output_layouts),
      use_local_output(options.use_local_output) {
  check_output_lengths(output_layouts, desired_output_layouts);
}

std::vector<Tensor> PrepareModuleOutput::prepare(const std::vector<Tensor>& outputs,
                                                 const DeviceMesh& mesh) const {
  check_arg(outputs.size() == output_layouts.size(),
            "module outputs and output_layouts should have same length! (got ", outputs.size(),
            " outputs and ", output_layouts.size(), " layouts)");
  std::vector<Tensor> out = outputs;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    out[i] = prepare_one(outputs[i], output_layouts[i], desired_output_layouts[i],
                         use_local_output, mesh, "PrepareModuleOutput");
  }
  return out;
}

void PrepareModuleOutput::apply(nn::Module& module, const DeviceMesh& mesh) {
  check_mesh(mesh, "PrepareModuleOutput");
  PrepareModuleOutput self = *this;
  DeviceMesh m = mesh;
  module.register_forward_hook(
      [self, m](nn::Module&, const nn::ModuleInputs&,
                const std::vector<Tensor>& outputs) -> std::optional<std::vector<Tensor>> {
        return self.prepare(outputs, m);
      });
}

std::string PrepareModuleOutput::repr() const {
  return cat("PrepareModuleOutput(output_layouts=", output_layouts.str(),
             ", desired_output_layouts=", desired_output_layouts.str(),
             ", use_local_output=", use_local_output ? "true" : "false", ")");
}

PrepareModuleInputOutput::PrepareModuleInputOutput(const PrepareModuleInputOutputOptions& o)
    : input({.input_layouts = o.input_layouts,
             .desired_input_layouts = o.desired_input_layouts,
             .input_kwarg_layouts = o.input_kwarg_layouts,
             .desired_input_kwarg_layouts = o.desired_input_kwarg_layouts,
             .use_local_output = o.use_local_input}),
      output({.output_layouts = o.output_layouts,
              .desired_output_layouts = o.desired_output_layouts,
              .use_local_output = o.use_local_output}) {}

void PrepareModuleInputOutput::apply(nn::Module& module, const DeviceMesh& mesh) {
  input.apply(module, mesh);
  output.apply(module, mesh);
}

std::string PrepareModuleInputOutput::repr() const {
  return cat("PrepareModuleInputOutput(", input.repr(), ", ", output.repr(), ")");
}

}  // namespace tensorpar
