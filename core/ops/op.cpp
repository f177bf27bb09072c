// apply_op: the plain and the distributed execution of an OpDef, and their autograd nodes.
#include "core/ops/op.h"

#include <memory>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/base/lru_cache.h"
#include "core/base/rank_context.h"
#include "core/ops/plan_trace.h"
#include "core/comm/profiler.h"

namespace tensorpar {

namespace {

// Records a plain op: the local backward on the saved context.
class OpNode final : public Node {
 public:
  OpNode(std::shared_ptr<const OpDef> op, OpContext ctx) : op_(std::move(op)), ctx_(std::move(ctx)) {}
  std::string name() const override { return cat(op_->name(), "Backward"); }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    if (!any) return std::vector<Tensor>(next_edges.size());
    std::vector<bool> need(next_edges.size());
    for (std::size_t i = 0; i < need.size(); ++i) need[i] = needs_input_grad(i);
    NoGradGuard no_grad;
    profiler::RecordEvent event([&] { return op_->name(); }, profiler::Category::Op, "_backward");
    return op_->backward(ctx_, grads, need);
  }
  void release_saved() override { ctx_.saved.clear(); }

 private:
  std::shared_ptr<const OpDef> op_;
  OpContext ctx_;
};

// Records a distributed op. Backward: output gradients are brought to the placements the local
// backward expects, the local backward runs, and input gradients are wrapped with the
// placements of the rule in op.h.
class DistOpNode final : public Node {
 public:
  DistOpNode(std::shared_ptr<const OpDef> op, OpContext ctx) : op_(std::move(op)), ctx_(std::move(ctx)) {}
  std::string name() const override { return cat(op_->name(), "Backward"); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const ShardContext& sc = *ctx_.shard;
    const std::size_t mesh_ndim = sc.outputs.at(0)->placements.size();
    std::vector<bool> distributed(mesh_ndim, false), partial(mesh_ndim, false);
    std::vector<Tensor> local_grads(grads.size());
    bool any = false;
    NoGradGuard no_grad;
    for (std::size_t j = 0; j < grads.size(); ++j) {
      if (!grads[j].defined()) continue;
      any = true;
      check_state(grads[j].is_distributed(), name(), ": expected a DTensor gradient for output ", j);
      const DTensorSpec& out = *sc.outputs[j];
      DTensor g(grads[j]);
      Placements want = g.placements();
      for (std::size_t m = 0; m < mesh_ndim; ++m) {
        const Placement& op = out.placements[m];
        if (op.is_partial()) {
          want[m] = Replicate();
          distributed[m] = true;
        } else if (op.is_shard()) {
          want[m] = op;
          distributed[m] = true;
        } else if (want[m].is_shard()) {
          want[m] = Replicate();
        } else if (want[m].is_partial()) {
          partial[m] = true;
        }
      }
      if (!(want == g.placements())) g = redistribute_internal(g, want);
      local_grads[j] = g.impl()->dist->local;
    }
    if (!any) return std::vector<Tensor>(next_edges.size());
    std::vector<bool> need(next_edges.size());
    for (std::size_t i = 0; i < need.size(); ++i) need[i] = needs_input_grad(i);
    std::vector<Tensor> local_in;
    {
      profiler::RecordEvent event([&] { return op_->name(); }, profiler::Category::Op, "_backward");
      local_in = op_->backward(ctx_, local_grads, need);
    }
    std::vector<Tensor> out(next_edges.size());
    for (std::size_t i = 0; i < out.size() && i < local_in.size(); ++i) {
      if (!local_in[i].defined() || !need[i]) continue;
      const auto& in = sc.inputs[i];
      check_state(in != nullptr, name(), ": a gradient for plain input ", i);
      Placements ps = in->placements;
      for (std::size_t m = 0; m < mesh_ndim; ++m) {
        if (ps[m].is_partial()) {
          ps[m] = Replicate();
        } else if (ps[m].is_replicate() && (distributed[m] || partial[m])) {
          ps[m] = Partial();
        }
      }
      auto spec = std::make_shared<const DTensorSpec>(
          DTensorSpec{in->mesh, std::move(ps), in->shape, local_in[i].dtype()});
      out[i] = DTensor(std::move(local_in[i]), std::move(spec));
    }
    return out;
  }
  void release_saved() override { ctx_.saved.clear(); }

 private:
  std::shared_ptr<const OpDef> op_;
  OpContext ctx_;
};

// Shared so that a plan in use survives its eviction by a nested op.
struct ShardingPlans {
  LruCache<std::string, std::shared_ptr<const ShardingPlan>> cache{kShardingPlanCacheCapacity};
};
constexpr RankContext::Slot<ShardingPlans> kShardingPlansSlot{RankSlot::ShardingPlans};

LruCache<std::string, std::shared_ptr<const ShardingPlan>>& plans() {
  return RankContext::current().get(kShardingPlansSlot).cache;
}

// The key holds everything a rule may read: the op and its rule attributes (rule_key), the
// mesh shape (reshape decides by divisibility by the mesh extents), and each input's
// placements and global shape. Rules read nothing else of a spec: not the dtype, the mesh's
// ranks or dim names, nor this rank's coordinate (the local forward reads that from
// ShardContext, which is built per call).
std::shared_ptr<const ShardingPlan> plan_for(const OpDef& op,
                                             const std::vector<const DTensorSpec*>& specs) {
  // Integers go in as raw bytes, each list after its length, so the key is unambiguous without
  // formatting numbers (this runs on every op on DTensors).
  std::string key;
  key.reserve(128);
  key += op.name();
  key += '|';
  op.rule_key(key);
  auto append_int = [&key](std::int64_t v) {
    key.append(reinterpret_cast<const char*>(&v), sizeof v);
  };
  auto append_list = [&](const std::vector<std::int64_t>& values) {
    append_int(static_cast<std::int64_t>(values.size()));
    for (std::int64_t v : values) append_int(v);
  };
  key += "|mesh:";
  for (const DTensorSpec* s : specs) {
    if (!s) continue;
    // Every DTensor input lives on the same mesh (apply_distributed checks it).
    append_list(s->mesh.shape());
    break;
  }
  for (const DTensorSpec* s : specs) {
    key += '|';
    if (!s) continue;
    for (const Placement& p : s->placements) {
      // All four bytes: S(1) and S(2) differ only above the low byte.
      const std::uint32_t k = p.key();
      key.append(reinterpret_cast<const char*>(&k), sizeof k);
    }
    append_list(s->shape);
  }
  auto& cache = plans();
  if (const auto* cached = cache.find(key)) return *cached;
  auto plan = std::make_shared<const ShardingPlan>(op.sharding(specs));
  cache.insert(std::move(key), plan);
  return plan;
}

Shape offsets_of(const std::shared_ptr<const DTensorSpec>& spec,
                 const std::vector<std::int64_t>& coordinate) {
  return local_shard_of(spec->shape, spec->mesh.shape(), spec->placements, coordinate).offset;
}

std::vector<Tensor> apply_plain(std::shared_ptr<const OpDef> op, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> grad_inputs;
  bool record = false;
  if (GradMode::is_enabled()) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!op->is_index_input(i) && inputs[i].defined() && inputs[i].requires_grad()) record = true;
    }
  }
  OpContext ctx;
  ctx.recording = record;
  std::vector<Tensor> outs;
  {
    NoGradGuard no_grad;
    profiler::RecordEvent event([&] { return op->name(); }, profiler::Category::Op);
    outs = op->forward(ctx, inputs);
  }
  if (!record) return outs;
  auto node = std::make_shared<OpNode>(op, std::move(ctx));
  node->num_outputs = static_cast<std::uint32_t>(outs.size());
  collect_next_edges(*node, inputs);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (op->is_index_input(i)) node->next_edges[i] = Edge{};
  }
  for (std::size_t j = 0; j < outs.size(); ++j) {
    outs[j] = outs[j].detach();
    set_history(outs[j], node, static_cast<std::uint32_t>(j));
  }
  return outs;
}

// Argument errors of an op on DTensors are restated for what the user passed: the global shapes
// and placements, and, when the local computation failed, the local shards it ran on.
//   add: shapes [6, 3] and [2, 3] cannot be broadcast (DTensor inputs: global [6, 3] with [S(0)],
//   global [2, 3] with [R] on DeviceMesh([0, 1, 2]))
//   matmul on DTensor inputs global [4, 3] with [S(0)], global [4, 5] with [R] on
//   DeviceMesh([0, 1, 2]) failed on rank 2's local shards [0, 3], [4, 5]: matmul: inner dims
//   differ: a is [0, 3], b is [4, 5]
std::string global_inputs_str(const std::vector<const DTensorSpec*>& specs,
                              const DeviceMesh& mesh) {
  std::string out;
  for (const DTensorSpec* s : specs) {
    if (!s) continue;
    out += cat(out.empty() ? "" : ", ", "global ", shape_str(s->shape), " with ",
               placements_str(s->placements));
  }
  return cat(out, " on ", mesh.str());
}

[[noreturn]] void throw_rule_error(const std::invalid_argument& e,
                                   const std::vector<const DTensorSpec*>& specs,
                                   const DeviceMesh& mesh) {
  throw std::invalid_argument(
      cat(e.what(), " (DTensor inputs: ", global_inputs_str(specs, mesh), ")"));
}

// `given`: the inputs' specs as passed; `sc.inputs` the ones the local forward ran on.
[[noreturn]] void throw_local_error(const OpDef& op, const std::invalid_argument& e,
                                    const std::vector<const DTensorSpec*>& given,
                                    const ShardContext& sc, const std::vector<Tensor>& locals,
                                    const DeviceMesh& mesh) {
  std::string shards, targets;
  bool redistributed = false;
  for (std::size_t i = 0; i < locals.size(); ++i) {
    if (!locals[i].defined()) continue;
    shards += cat(shards.empty() ? "" : ", ", shape_str(locals[i].shape()));
    targets += cat(targets.empty() ? "" : ", ", placements_str(sc.inputs[i]->placements));
    redistributed = redistributed || !(sc.inputs[i]->placements == given[i]->placements);
  }
  throw std::invalid_argument(cat(
      op.name(), " on DTensor inputs ", global_inputs_str(given, mesh), " failed on rank ",
      mesh.get_rank(), "'s local shards ", shards,
      redistributed ? cat(" (after redistributing the inputs to ", targets, ")") : "", ": ",
      e.what()));
}

std::vector<Tensor> apply_distributed(std::shared_ptr<const OpDef> op, std::vector<Tensor> inputs) {
  // The inputs as given, kept only for an active PlanTrace.
  const std::vector<Tensor> traced = PlanTrace::active() ? inputs : std::vector<Tensor>();
  std::vector<const DTensorSpec*> specs(inputs.size(), nullptr);
  const DeviceMesh* mesh = nullptr;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    if (!inputs[i].is_distributed()) {
      check_arg(op->is_index_input(i), op->name(), ": input ", i,
                " is a plain tensor but other inputs are DTensors; distribute it (or use "
                "DTensor::from_local) first");
      continue;
    }
    const DTensor d(inputs[i]);
    if (!mesh) mesh = &d.device_mesh();
  }
  // Plain index inputs (indices, targets) are read as Replicate on the DTensors' mesh.
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || inputs[i].is_distributed()) continue;
    inputs[i] = DTensor(inputs[i], std::make_shared<const DTensorSpec>(DTensorSpec{
                                       *mesh, Placements(std::size_t(mesh->ndim()), Replicate()),
                                       inputs[i].shape(), inputs[i].dtype()}));
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    const DTensor d(inputs[i]);
    specs[i] = &d.spec();
    {
      check_arg(*mesh == d.device_mesh(), op->name(), ": DTensor inputs live on different meshes ",
                mesh->str(), " and ", d.device_mesh().str());
    }
  }
  const auto& coordinate = mesh->get_coordinate();
  check_arg(coordinate.has_value(), op->name(), ": this rank is not part of the mesh ", mesh->str());
  std::shared_ptr<const ShardingPlan> plan_ref;
  try {
    plan_ref = plan_for(*op, specs);
  } catch (const std::invalid_argument& e) {
    throw_rule_error(e, specs, *mesh);
  }
  const ShardingPlan& plan = *plan_ref;

  auto sc = std::make_shared<ShardContext>();
  sc->coordinate = *coordinate;
  sc->variant = plan.variant;
  sc->inputs.resize(inputs.size());
  std::vector<Tensor> locals(inputs.size());
  // The specs as given, kept once an input is redistributed (error messages name them).
  std::vector<std::shared_ptr<const DTensorSpec>> given;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    DTensor d(inputs[i]);
    if (i < plan.inputs.size() && !plan.inputs[i].empty() && !(plan.inputs[i] == d.placements())) {
      if (given.empty()) {
        for (const Tensor& t : inputs) {
          given.push_back(t.defined() ? DTensor(t).spec_ptr() : nullptr);
        }
      }
      d = redistribute_internal(d, plan.inputs[i]);
      inputs[i] = d;
    }
    sc->inputs[i] = d.spec_ptr();
    locals[i] = d.impl()->dist->local;
  }

  bool record = false;
  if (GradMode::is_enabled()) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!op->is_index_input(i) && inputs[i].defined() && inputs[i].requires_grad()) record = true;
    }
  }
  OpContext ctx;
  ctx.recording = record;
  std::vector<Tensor> local_outs;
  {
    NoGradGuard no_grad;
    for (std::size_t j = 0; j < plan.outputs.size(); ++j) {
      sc->outputs.push_back(std::make_shared<const DTensorSpec>(
          DTensorSpec{*mesh, plan.outputs[j], plan.output_shapes[j], DType::Float32}));
    }
    ctx.shard = sc;
    profiler::RecordEvent event([&] { return op->name(); }, profiler::Category::Op);
    try {
      local_outs = op->forward(ctx, locals);
    } catch (const std::invalid_argument& e) {
      std::vector<const DTensorSpec*> as_given(inputs.size(), nullptr);
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        as_given[i] = given.empty() ? sc->inputs[i].get() : given[i].get();
      }
      throw_local_error(*op, e, as_given, *sc, locals, *mesh);
    }
  }
  check_state(local_outs.size() == plan.outputs.size(), op->name(), ": the rule describes ",
              plan.outputs.size(), " outputs but the op produced ", local_outs.size());
  std::vector<Tensor> outs(local_outs.size());
  for (std::size_t j = 0; j < local_outs.size(); ++j) {
    // The output specs carry the dtype the local forward produced.
    sc->outputs[j] = std::make_shared<const DTensorSpec>(DTensorSpec{
        *mesh, plan.outputs[j], plan.output_shapes[j], local_outs[j].dtype()});
    outs[j] = DTensor(local_outs[j], sc->outputs[j]);
  }
  if (!traced.empty()) PlanTrace::record(*op, traced, *sc, outs, record);
  if (!record) return outs;
  auto node = std::make_shared<DistOpNode>(op, std::move(ctx));
  node->num_outputs = static_cast<std::uint32_t>(outs.size());
  collect_next_edges(*node, inputs);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (op->is_index_input(i)) node->next_edges[i] = Edge{};
  }
  for (std::size_t j = 0; j < outs.size(); ++j) {
    set_history(outs[j], node, static_cast<std::uint32_t>(j));
  }
  return outs;
}

}  // namespace

Shape ShardContext::input_offsets(std::size_t i) const { return offsets_of(inputs.at(i), coordinate); }
Shape ShardContext::output_offsets(std::size_t i) const {
  return offsets_of(outputs.at(i), coordinate);
}

ShardingPlan OpDef::sharding(const std::vector<const DTensorSpec*>&) const {
  throw std::invalid_argument(cat(name(), ": no sharding rule for DTensor inputs"));
}

std::vector<Tensor> apply_op(std::shared_ptr<const OpDef> op, std::vector<Tensor> inputs) {
  for (const Tensor& t : inputs) {
    if (t.defined() && t.is_distributed()) return apply_distributed(std::move(op), std::move(inputs));
  }
  return apply_plain(std::move(op), inputs);
}

std::size_t sharding_cache_size() { return plans().size(); }
void clear_sharding_cache() { plans().clear(); }

}  // namespace tensorpar
