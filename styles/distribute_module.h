#pragma once
// distribute_module: the primitive under ColwiseParallel, RowwiseParallel and SequenceParallel
// (PyTorch's torch.distributed.tensor.distribute_module).
//
//   distribute_module(linear, mesh,
//       [](const std::string& name, nn::Module& m, const DeviceMesh& mesh) {
//         m.set_parameter("weight", distribute_tensor(m.parameter("weight"), mesh, {Shard(0)}));
//       });
//
// partition_fn runs for every entry of named_modules() (name relative to `module`); afterwards
// every parameter and buffer that is still a plain tensor is replicated (distribute_tensor with
// Replicate). Without partition_fn everything is replicated. input_fn becomes a forward pre-hook
// and output_fn a forward hook. It may run once per module: a second call throws
// std::runtime_error "distribute_module should only be called once on a module, but it has
// already been called on this module!" — which is what rejects two distributing styles on one
// module.
#include <functional>
#include <string>
#include <vector>

#include "core/dtensor/device_mesh.h"
#include "core/nn/module.h"

namespace tensorpar {

using PartitionFn = std::function<void(const std::string& name, nn::Module& module,
                                       const DeviceMesh& mesh)>;
using InputFn = std::function<nn::ModuleInputs(nn::Module& module, const nn::ModuleInputs& inputs,
                                               const DeviceMesh& mesh)>;
using OutputFn = std::function<std::vector<Tensor>(nn::Module& module,
                                                   const std::vector<Tensor>& outputs,
                                                   const DeviceMesh& mesh)>;

nn::Module& distribute_module(nn::Module& module, const DeviceMesh& mesh,
                              const PartitionFn& partition_fn = nullptr,
                              const InputFn& input_fn = nullptr,
                              const OutputFn& output_fn = nullptr);

}  // namespace tensorpar
