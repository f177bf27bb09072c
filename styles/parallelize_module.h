#pragma once
// parallelize_module: applies parallel styles to a module tree (PyTorch's
// torch.distributed.tensor.parallel.parallelize_module).
//
//   parallelize_module(model, mesh, ColwiseParallel());           // one style, the module itself
//   parallelize_module(model, mesh, {{"net1", ColwiseParallel()},
//                                    {"net2", RowwiseParallel()}});
//   parallelize_module(model, mesh, {{"layers.*.attention.wq", ColwiseParallel()},
//                                    {"layers.[0-1].feed_forward.w2", RowwiseParallel()},
//                                    {"", PrepareModuleInputOutput(...)}});
//
// A plan is processed entry by entry in order. A key is split on '.', and each token is matched
// against the names of the current module's children with shell-glob rules (*, ?, [1-2], [!0]);
// every matching child is followed, so "layers.*.attention" reaches every layer's attention. ""
// is the module itself. A key that matches nothing warns (core/warning.h): "Parallelize plan key
// 'net0.hello.world' could not be resolved: no submodule matching token 'net0' in module MLP,
// skipping this plan entry." All matches of one entry share the same style object.
//
// `src_data_rank` (a mesh rank, or std::nullopt for no communication) is written into every
// style applied. The mesh must be 1-D ("Tensor Parallel only accepts a 1D DeviceMesh, but found
// 2D! If you have a 2-D or N-D device_mesh, consider passing in device_mesh[\"tp\"]"); without a
// mesh argument the current MeshScope's mesh is used. No plan: a warning, nothing changes.
//
// Every module under `module` is labelled with its FQN for CommDebugMode (counts_by_module).
// Parameters shared by several modules (weight tying) stay shared when their styles give them
// the same placements: the first distribution is reused.
#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "styles/parallel_style.h"

namespace tensorpar {

struct PlanEntry {
  PlanEntry(std::string key, ParallelStylePtr style);
  template <class S>
    requires std::derived_from<S, ParallelStyle>
  PlanEntry(std::string key, S style)
      : PlanEntry(std::move(key), std::make_shared<S>(std::move(style))) {}

  std::string key;
  ParallelStylePtr style;
};

// FQN patterns to styles, in application order.
using ParallelizePlan = std::vector<PlanEntry>;

nn::Module& parallelize_module(nn::Module& module, const DeviceMesh& mesh,
                               const ParallelStylePtr& style,
                               std::optional<int> src_data_rank = 0);
nn::Module& parallelize_module(nn::Module& module, const DeviceMesh& mesh,
                               const ParallelizePlan& plan, std::optional<int> src_data_rank = 0);
template <class S>
  requires std::derived_from<S, ParallelStyle>
nn::Module& parallelize_module(nn::Module& module, const DeviceMesh& mesh, S style,
                               std::optional<int> src_data_rank = 0) {
  return parallelize_module(module, mesh, ParallelStylePtr(std::make_shared<S>(std::move(style))),
                            src_data_rank);
}
// No plan: warns "No parallelize_plan is provided and auto-parallel is not supported at the
// moment, so this parallelize_module call will do nothing." and returns the module unchanged.
nn::Module& parallelize_module(nn::Module& module, const DeviceMesh& mesh);

// The same on the current MeshScope's mesh (`with device_mesh:`).
nn::Module& parallelize_module(nn::Module& module, const ParallelizePlan& plan,
                               std::optional<int> src_data_rank = 0);
nn::Module& parallelize_module(nn::Module& module, const ParallelStylePtr& style,
                               std::optional<int> src_data_rank = 0);
template <class S>
  requires std::derived_from<S, ParallelStyle>
nn::Module& parallelize_module(nn::Module& module, S style, std::optional<int> src_data_rank = 0) {
  return parallelize_module(module, ParallelStylePtr(std::make_shared<S>(std::move(style))),
                            src_data_rank);
}

// Shell-glob match of one token: *, ?, [abc], [a-z], [!a] (Python's fnmatch, case-sensitive).
bool fnmatch(const std::string& name, const std::string& pattern);

}  // namespace tensorpar
