#include "styles/distribute_module.h"

#include "core/base/error.h"
#include "styles/style_util.h"

namespace tensorpar {

nn::Module& distribute_module(nn::Module& module, const DeviceMesh& mesh,
                              const PartitionFn& partition_fn, const InputFn& input_fn,
                              const OutputFn& output_fn) {
  check_state(!module.distribute_module_applied(),
              "distribute_module should only be called once on a module, but it has already "
              "been called on this module! (", module.type_name(), ")");
  check_arg(mesh.valid(), "distribute_module: the device mesh is an empty handle");

  for (auto& [name, sub] : module.named_modules()) {
    if (partition_fn) partition_fn(name, *sub, mesh);
    // Whatever the partition left plain is replicated.
    const Placements replicate(static_cast<std::size_t>(mesh.ndim()), Replicate());
    for (const auto& [pname, p] : sub->named_parameters(/*recurse=*/false)) {
      if (!p.is_distributed()) {
        sub->set_parameter(pname, styles_detail::distribute_parameter(p, mesh, replicate, 0));
      }
    }
    for (const auto& [bname, b] : sub->named_buffers(/*recurse=*/false)) {
      if (!b.is_distributed()) {
        sub->set_buffer(bname, styles_detail::distribute_parameter(b, mesh, replicate, 0));
      }
    }
  }

  if (input_fn) {
    DeviceMesh m = mesh;
    module.register_forward_pre_hook(
        [input_fn, m](nn::Module& self, const nn::ModuleInputs& inputs)
            -> std::optional<nn::ModuleInputs> { return input_fn(self, inputs, m); });
  }
  if (output_fn) {
    DeviceMesh m = mesh;
    module.register_forward_hook(
        [output_fn, m](nn::Module& self, const nn::ModuleInputs&,
                       const std::vector<Tensor>& outputs) -> std::optional<std::vector<Tensor>> {
          return output_fn(self, outputs, m);
        });
  }
  module.mark_distribute_module_applied();
  return module;
}

}  // namespace tensorpar
