#include "styles/style_util.h"

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/base/rank_context.h"
#include "core/base/warning.h"

namespace tensorpar::styles_detail {

namespace {
struct ParameterMemos {
  ParameterMemo* innermost = nullptr;
};
constexpr RankContext::Slot<ParameterMemos> kParameterMemoSlot{RankSlot::ParameterMemo};

ParameterMemo*& innermost_memo() {
  return RankContext::current().get(kParameterMemoSlot).innermost;
}
}  // namespace

Placement normalized(const Placement& p, std::int64_t ndim) {
  if (!p.is_shard() || p.dim() >= 0) return p;
  return Shard(p.dim() + ndim);
}

DTensor to_dtensor(const Tensor& x, const DeviceMesh& mesh, const Placement& layout,
                   const std::optional<Placement>& desired, const std::string& who) {
  check_arg(x.defined(), who, ": expecting input to be a tensor, got an undefined tensor");
  DTensor d = x.is_distributed() ? DTensor(x) : DTensor::from_local(x, mesh, {layout});
  if (!desired) return d;
  const Placement want = normalized(*desired, d.dim());
  if (d.placements().size() == 1 && d.placements()[0] == want) return d;
  return d.redistribute({want});
}

Tensor finish_output(const Tensor& out, const DeviceMesh& mesh, const Placement& layout,
                     bool use_local_output, const std::string& who) {
  check_arg(out.is_distributed(), who, ": expected the module output to be a DTensor");
  DTensor d(out);
  const Placement want = normalized(layout, d.dim());
  if (!(d.placements().size() == 1 && d.placements()[0] == want)) d = d.redistribute({want});
  if (use_local_output) return d.to_local();
  return d;
}

ParameterMemo::ParameterMemo() : previous_(innermost_memo()) { innermost_memo() = this; }
ParameterMemo::~ParameterMemo() { innermost_memo() = previous_; }
ParameterMemo* active_parameter_memo() { return innermost_memo(); }

Tensor distribute_parameter(const Tensor& param, const DeviceMesh& mesh,
                            const Placements& placements, std::optional<int> src_data_rank) {
  if (param.is_distributed()) {
    // Already distributed (a tied parameter reached through a second module, or a user's
    // DTensor): acceptable only when it already has the placements asked for.
    const DTensor d(param);
    check_arg(d.device_mesh() == mesh && d.placements() == placements,
              "distribute_module: parameter is already a DTensor with placements ",
              placements_str(d.placements()), " but the style asks for ",
              placements_str(placements));
    return param;
  }
  ParameterMemo* memo = innermost_memo();
  if (memo != nullptr) {
    for (const auto& e : memo->entries) {
      if (e.source != param.impl()) continue;
      if (e.mesh == mesh && e.placements == placements) return e.distributed;
      warn(cat("a parameter shared by several modules is distributed as ",
               placements_str(e.placements), " and as ", placements_str(placements),
               "; the modules no longer share it"));
    }
  }
  Tensor out;
  {
    NoGradGuard no_grad;
    out = distribute_tensor(param.detach(), mesh, placements, src_data_rank);
  }
  out.requires_grad_(param.requires_grad());
  if (memo != nullptr) memo->entries.push_back({param.impl(), mesh, placements, out});
  return out;
}

Tensor replicate_parameter_locally(const Tensor& param, const DeviceMesh& mesh) {
  if (param.is_distributed()) return param;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = DTensor::from_local(param.detach(), mesh, {Replicate()});
  }
  out.requires_grad_(param.requires_grad());
  return out;
}

}  // namespace tensorpar::styles_detail
