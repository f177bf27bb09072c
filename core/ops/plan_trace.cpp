#include "core/ops/plan_trace.h"

#include "core/base/rank_context.h"
#include "core/dtensor/dtensor.h"

namespace tensorpar {

namespace {
// The innermost active scope of the rank context; each scope links to the one it shadows.
struct PlanTraces {
  PlanTrace* innermost = nullptr;
};
constexpr RankContext::Slot<PlanTraces> kPlanTraceSlot{RankSlot::PlanTrace};

PlanTrace*& innermost_trace() { return RankContext::current().get(kPlanTraceSlot).innermost; }

TensorRef ref_of(const Tensor& t) { return TensorRef(t.impl()); }
}  // namespace

bool same_tensor(const TensorRef& ref, const Tensor& tensor) {
  const TensorRef other = ref_of(tensor);
  return tensor.defined() && !ref.expired() && !ref.owner_before(other) && !other.owner_before(ref);
}

bool PlanRecord::redistributed(std::size_t i) const {
  const PlannedInput& in = inputs.at(i);
  if (in.planned.empty()) return false;
  return !(in.planned == in.actual.value_or(Placements(in.planned.size(), Replicate())));
}

PlanTrace::PlanTrace() : previous_(innermost_trace()) { innermost_trace() = this; }

PlanTrace::~PlanTrace() { innermost_trace() = previous_; }

bool PlanTrace::active() { return innermost_trace() != nullptr; }

void PlanTrace::record(const OpDef& op, const std::vector<Tensor>& inputs,
                       const ShardContext& shard, const std::vector<Tensor>& outputs,
                       bool recorded_for_backward) {
  PlanTrace* const innermost = innermost_trace();
  if (innermost == nullptr) return;
  PlanRecord r;
  r.op = op.name();
  r.recorded_for_backward = recorded_for_backward;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    PlannedInput in;
    in.index = op.is_index_input(i);
    if (t.defined()) {
      in.requires_grad = t.requires_grad();
      in.tensor = ref_of(t);
      if (t.is_distributed()) in.actual = DTensor(t).placements();
    }
    if (i < shard.inputs.size() && shard.inputs[i]) {
      in.planned = shard.inputs[i]->placements;
      if (r.mesh_shape.empty()) r.mesh_shape = shard.inputs[i]->mesh.shape();
    }
    r.inputs.push_back(std::move(in));
  }
  for (const Tensor& out : outputs) {
    const DTensor d(out);
    r.outputs.push_back(d.placements());
    r.output_tensors.push_back(ref_of(out));
    if (r.mesh_shape.empty()) r.mesh_shape = d.device_mesh().shape();
  }
  for (PlanTrace* t = innermost->previous_; t != nullptr; t = t->previous_) {
    t->records_.push_back(r);
  }
  innermost->records_.push_back(std::move(r));
}

}  // namespace tensorpar
