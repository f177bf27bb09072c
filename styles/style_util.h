#pragma once
// Shared pieces of the parallel styles: layout normalisation, the input/output conversions of
// the hooks, and parameter distribution that keeps tied parameters tied.
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtensor/device_mesh.h"
#include "core/dtensor/dtensor.h"
#include "core/dtensor/placement.h"

namespace tensorpar::styles_detail {

// Shard(-1) on a 3-D tensor is Shard(2); other placements unchanged.
Placement normalized(const Placement& p, std::int64_t ndim);

// A style's input: a plain tensor is wrapped with from_local(x, mesh, {layout}) (differentiable);
// a DTensor is taken as is. Then, when `desired` is given and differs from the placement the
// value has, it is redistributed (differentiable). `who` names the style for errors.
DTensor to_dtensor(const Tensor& x, const DeviceMesh& mesh, const Placement& layout,
                   const std::optional<Placement>& desired, const std::string& who);

// A style's output: redistributed to `layout` when its placement differs; then the local tensor
// when use_local_output. A plain tensor output is wrapped with from_local(out, mesh, {from})
// first when `from` is given, else rejected.
Tensor finish_output(const Tensor& out, const DeviceMesh& mesh, const Placement& layout,
                     bool use_local_output, const std::string& who);

// distribute_tensor for a parameter, keeping requires_grad. While a ParameterMemo is active in
// the rank context, a tensor already distributed with the same mesh and placements is not
// distributed again: the earlier DTensor is returned, so parameters shared by several modules
// (weight tying) stay one parameter.
Tensor distribute_parameter(const Tensor& param, const DeviceMesh& mesh,
                            const Placements& placements, std::optional<int> src_data_rank);
// A Replicate DTensor over the parameter's own data, without communication (SequenceParallel).
Tensor replicate_parameter_locally(const Tensor& param, const DeviceMesh& mesh);

class ParameterMemo {
 public:
  ParameterMemo();
  ~ParameterMemo();
  ParameterMemo(const ParameterMemo&) = delete;
  ParameterMemo& operator=(const ParameterMemo&) = delete;

  struct Entry {
    std::shared_ptr<TensorImpl> source;  // keeps the source alive so its address stays unique
    DeviceMesh mesh;
    Placements placements;
    Tensor distributed;
  };
  std::vector<Entry> entries;

 private:
  ParameterMemo* previous_;
};

// The innermost active memo of the rank context, or null.
ParameterMemo* active_parameter_memo();

}  // namespace tensorpar::styles_detail
