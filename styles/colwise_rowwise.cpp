#include "styles/colwise_rowwise.h"

#include "core/base/error.h"
#include "core/nn/layers.h"
#include "styles/distribute_module.h"
#include "styles/style_util.h"

namespace tensorpar {

namespace {

using styles_detail::distribute_parameter;
using styles_detail::finish_output;
using styles_detail::to_dtensor;

enum class Target { Linear, Embedding };

Target target_of(nn::Module& module, const char* style) {
  if (dynamic_cast<nn::Linear*>(&module) != nullptr) return Target::Linear;
  if (dynamic_cast<nn::Embedding*>(&module) != nullptr) return Target::Embedding;
  throw std::invalid_argument(cat(style, " currently only support nn.Linear and nn.Embedding! got ",
                                  module.type_name(),
                                  module.comm_label().empty() ? "" : " '" + module.comm_label() + "'"));
}

// Every own parameter of `module` gets `placements` (Colwise: weight and bias alike).
void shard_all(nn::Module& module, const DeviceMesh& mesh, const Placements& placements,
               std::optional<int> src) {
  for (const auto& [name, p] : module.named_parameters(/*recurse=*/false)) {
    module.set_parameter(name, distribute_parameter(p, mesh, placements, src));
  }
}

// The hooks both styles install: input -> DTensor in `layout`, redistributed to `desired`;
// output -> redistributed to `output_layout`, local when asked.
void install_hooks(nn::Module& module, const DeviceMesh& mesh, const PartitionFn& partition,
                   Placement layout, Placement desired, Placement output_layout,
                   bool use_local_output, std::string who) {
  distribute_module(
      module, mesh, partition,
      [layout, desired, who](nn::Module&, const nn::ModuleInputs& in, const DeviceMesh& m) {
        check_arg(!in.args.empty(), who, ": the module was called without a positional input");
        nn::ModuleInputs out = in;
        out.args[0] = to_dtensor(in.args[0], m, layout, desired, who);
        return out;
      },
      [output_layout, use_local_output, who](nn::Module&, const std::vector<Tensor>& outs,
                                             const DeviceMesh& m) {
        std::vector<Tensor> result = outs;
        check_state(!result.empty(), who, ": the module returned no output");
        result[0] = finish_output(result[0], m, output_layout, use_local_output, who);
        return result;
      });
}

void check_mesh(const DeviceMesh& mesh, const char* style) {
  check_arg(mesh.valid() && mesh.ndim() == 1, style, ": expects a 1-D device mesh, got ",
            mesh.valid() ? mesh.str() : std::string("an empty mesh handle"));
}

}  // namespace

ColwiseParallel::ColwiseParallel(const ColwiseParallelOptions& options)
    : input_layouts(options.input_layouts.value_or(Replicate())),
      output_layouts(options.output_layouts.value_or(Shard(-1))),
      desired_input_layouts(Replicate()),
      use_local_output(options.use_local_output) {}

void ColwiseParallel::apply(nn::Module& module, const DeviceMesh& mesh) {
  const Target target = target_of(module, "ColwiseParallel");
  check_mesh(mesh, "ColwiseParallel");
  const Placements placements{target == Target::Linear ? Shard(0) : Shard(1)};
  const std::optional<int> src = src_data_rank;
  install_hooks(
      module, mesh,
      [placements, src](const std::string& name, nn::Module& m, const DeviceMesh& dm) {
        if (name.empty()) shard_all(m, dm, placements, src);
      },
      input_layouts, desired_input_layouts, output_layouts, use_local_output, "ColwiseParallel");
}

std::string ColwiseParallel::repr() const {
  return cat("ColwiseParallel(input_layouts=", input_layouts.str(), ", output_layouts=",
             output_layouts.str(), ", use_local_output=", use_local_output ? "true" : "false",
             ")");
}

RowwiseParallel::RowwiseParallel(const RowwiseParallelOptions& options)
    : input_layouts(options.input_layouts.value_or(Shard(-1))),
      output_layouts(options.output_layouts.value_or(Replicate())),
      desired_input_layouts(Shard(-1)),
      use_local_output(options.use_local_output) {}

void RowwiseParallel::apply(nn::Module& module, const DeviceMesh& mesh) {
  const Target target = target_of(module, "RowwiseParallel");
  check_mesh(mesh, "RowwiseParallel");
  const std::optional<int> src = src_data_rank;
  PartitionFn partition;
  if (target == Target::Linear) {
    desired_input_layouts = Shard(-1);
    partition = [src](const std::string& name, nn::Module& m, const DeviceMesh& dm) {
      if (!name.empty()) return;
      m.set_parameter("weight", distribute_parameter(m.parameter("weight"), dm, {Shard(1)}, src));
      if (m.has_parameter("bias") && m.parameter("bias").defined()) {
        m.set_parameter("bias", distribute_parameter(m.parameter("bias"), dm, {Replicate()}, src));
      }
    };
  } else {
    // The masked lookup: indices replicated, weight rows sharded, Partial output.
    desired_input_layouts = Replicate();
    partition = [src](const std::string& name, nn::Module& m, const DeviceMesh& dm) {
      if (name.empty()) shard_all(m, dm, {Shard(0)}, src);
    };
  }
  install_hooks(module, mesh, partition, input_layouts, desired_input_layouts, output_layouts,
                use_local_output, "RowwiseParallel");
}

std::string RowwiseParallel::repr() const {
  return cat("RowwiseParallel(input_layouts=", input_layouts.str(), ", output_layouts=",
             output_layouts.str(), ", use_local_output=", use_local_output ? "true" : "false",
             ")");
}

}  // namespace tensorpar
