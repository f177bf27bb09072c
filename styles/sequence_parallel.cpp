#include "styles/sequence_parallel.h"

#include "core/base/error.h"
#include "styles/distribute_module.h"
#include "styles/style_util.h"

namespace tensorpar {

SequenceParallel::SequenceParallel(const SequenceParallelOptions& options)
    : sequence_dim(options.sequence_dim), use_local_output(options.use_local_output) {}

void SequenceParallel::apply(nn::Module& module, const DeviceMesh& mesh) {
  check_arg(mesh.valid() && mesh.ndim() == 1, "SequenceParallel: expects a 1-D device mesh, got ",
            mesh.valid() ? mesh.str() : std::string("an empty mesh handle"));
  const std::int64_t seq = sequence_dim;
  const bool local = use_local_output;
  distribute_module(
      module, mesh,
      [](const std::string&, nn::Module& m, const DeviceMesh& dm) {
        // No broadcast: the parameters are assumed identical on every rank already.
        for (const auto& [name, p] : m.named_parameters(/*recurse=*/false)) {
          m.set_parameter(name, styles_detail::replicate_parameter_locally(p, dm));
        }
      },
      [seq](nn::Module& m, const nn::ModuleInputs& in, const DeviceMesh& dm) {
        check_arg(!in.args.empty() && in.args[0].defined(), "SequenceParallel: expecting input of ",
                  m.type_name(), " to be a Tensor or DTensor, but got none");
        nn::ModuleInputs out = in;
        const Tensor& x = in.args[0];
        const std::int64_t ndim = x.dim();
        check_arg(seq >= -ndim && seq < ndim, "SequenceParallel: sequence_dim ", seq,
                  " is out of range for an input of ", ndim, " dims");
        out.args[0] = styles_detail::to_dtensor(x, dm, Shard(seq), Shard(seq), "SequenceParallel");
        return out;
      },
      [local](nn::Module&, const std::vector<Tensor>& outs, const DeviceMesh&) {
        std::vector<Tensor> result = outs;
        if (local && !result.empty() && result[0].is_distributed()) {
          result[0] = DTensor(result[0]).to_local();
        }
        return result;
      });
}

std::string SequenceParallel::repr() const {
  return cat("SequenceParallel(sequence_dim=", sequence_dim,
             ", use_local_output=", use_local_output ? "true" : "false", ")");
}

}  // namespace tensorpar
