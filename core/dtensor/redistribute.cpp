#include "core/dtensor/redistribute.h"

#include "core/base/error.h"
#include "core/base/lru_cache.h"
#include "core/base/rank_context.h"
#include "core/kernels/elementwise.h"
#include "core/dtensor/shard_collectives.h"

namespace tensorpar {

std::optional<CollectiveKind> step_collective(const Placement& from, const Placement& to) {
  if (from == to) return std::nullopt;
  if (to.is_replicate()) {
    if (from.is_partial()) return CollectiveKind::AllReduce;
    if (from.is_shard()) return CollectiveKind::AllGather;
  }
  if (to.is_shard()) {
    if (from.is_partial()) return CollectiveKind::ReduceScatter;
    if (from.is_shard()) return CollectiveKind::AllToAll;
  }
  return std::nullopt;
}

std::string comm_type_key(const Placement& from, const Placement& to) {
  const auto kind = step_collective(from, to);
  if (!kind) return "";
  switch (*kind) {
    case CollectiveKind::AllReduce: return cat("allreduce_", reduce_op_name(from.reduce_op()));
    case CollectiveKind::ReduceScatter:
      return cat("reduce_scatter_", reduce_op_name(from.reduce_op()));
    default: return std::string(collective_name(*kind));
  }
}

namespace {

void check_step(const RedistributeStep& step) {
  const Placement& from = step.from;
  const Placement& to = step.to;
  if (from.is_shard() && to.is_partial()) {
    throw std::invalid_argument(cat("redistribute from ", from.str(), " to ", to.str(),
                                    " is not supported (mesh dim ", step.mesh_dim, ")"));
  }
  if (from.is_partial() && to.is_partial() && !(from == to)) {
    throw std::invalid_argument(cat("Redistribution from one partial type (", from.str(),
                                    ") to another (", to.str(), ") is unsupported (mesh dim ",
                                    step.mesh_dim, ")"));
  }
}

std::int64_t count_shards(const Shape& mesh_shape, const Placements& placements) {
  std::int64_t n = 1;
  for (std::size_t i = 0; i < placements.size(); ++i) {
    if (placements[i].is_shard()) n *= mesh_shape[i];
  }
  return n;
}

// Mesh dims before `mesh_dim` that shard tensor dim `dim`.
std::vector<std::int64_t> shards_before(const Placements& placements, std::int64_t mesh_dim,
                                        std::int64_t dim) {
  std::vector<std::int64_t> dims;
  for (std::int64_t i = 0; i < mesh_dim; ++i) {
    if (placements[i].is_shard(dim)) dims.push_back(i);
  }
  return dims;
}

struct PlanKey {
  std::vector<std::uint32_t> words;
  friend bool operator==(const PlanKey&, const PlanKey&) = default;
};

struct PlanKeyHash {
  std::size_t operator()(const PlanKey& key) const {
    std::size_t h = 1469598103934665603ull;
    for (auto w : key.words) h = (h ^ w) * 1099511628211ull;
    return h;
  }
};

}  // namespace

RedistributePlan plan_redistribute_uncached(const Shape& mesh_shape, const Placements& source,
                                            const Placements& target) {
  check_arg(source.size() == mesh_shape.size() && target.size() == mesh_shape.size(),
            "plan_redistribute: ", source.size(), " source and ", target.size(),
            " target placements for a mesh of ", mesh_shape.size(), " dims");
  RedistributePlan plan;
  Placements current = source;
  auto emit = [&](std::int64_t mesh_dim, const Placement& to) {
    RedistributeStep step{mesh_dim, current[mesh_dim], to};
    check_step(step);
    plan.steps.push_back(step);
    current[mesh_dim] = to;
  };
  const auto ndim = static_cast<std::int64_t>(mesh_shape.size());
  if (ndim == 1) {
    if (!(source[0] == target[0])) emit(0, target[0]);
    return plan;
  }
  if (count_shards(mesh_shape, source) > 1) {
    for (std::int64_t m = ndim - 1; m >= 0; --m) {
      Placement want = target[m];
      if (want.is_shard() &&
          shards_before(current, m, want.dim()) != shards_before(target, m, want.dim())) {
        want = Replicate();  // misaligned nesting: replicate first, re-shard in the forward pass
      }
      if (!(current[m] == want)) emit(m, want);
    }
  }
  for (std::int64_t m = 0; m < ndim; ++m) {
    if (!(current[m] == target[m])) emit(m, target[m]);
  }
  return plan;
}

namespace {
struct RedistributePlans {
  LruCache<PlanKey, RedistributePlan, PlanKeyHash> cache{kRedistributePlanCacheCapacity};
};
constexpr RankContext::Slot<RedistributePlans> kRedistributePlansSlot{RankSlot::RedistributePlans};

LruCache<PlanKey, RedistributePlan, PlanKeyHash>& plans() {
  return RankContext::current().get(kRedistributePlansSlot).cache;
}
}  // namespace

const RedistributePlan& plan_redistribute(const Shape& mesh_shape, const Placements& source,
                                          const Placements& target) {
  PlanKey key;
  key.words.reserve(mesh_shape.size() * 3);
  for (auto s : mesh_shape) key.words.push_back(static_cast<std::uint32_t>(s));
  for (const auto& p : source) key.words.push_back(p.key());
  for (const auto& p : target) key.words.push_back(p.key());
  auto& cache = plans();
  if (const RedistributePlan* cached = cache.find(key)) return *cached;
  RedistributePlan plan = plan_redistribute_uncached(mesh_shape, source, target);
  return cache.insert(std::move(key), std::move(plan));
}

std::size_t redistribute_plan_cache_size() { return plans().size(); }

std::string plan_path(const Placements& source, const RedistributePlan& plan) {
  auto state = [](const Placements& placements) {
    std::string out;
    for (std::size_t i = 0; i < placements.size(); ++i) {
      out += placements[i].str();
      if (!placements[i].is_shard()) continue;
      std::int64_t position = 0, total = 0;
      for (std::size_t j = 0; j < placements.size(); ++j) {
        if (!placements[j].is_shard(placements[i].dim())) continue;
        if (j < i) ++position;
        ++total;
      }
      if (total > 1) out += cat("[", position, "]");
    }
    return out;
  };
  Placements current = source;
  std::string path = state(current);
  for (const auto& step : plan.steps) {
    current[step.mesh_dim] = step.to;
    path += " -> " + state(current);
  }
  return path;
}

std::int64_t plan_collective_count(const Shape& mesh_shape, const RedistributePlan& plan) {
  std::int64_t n = 0;
  for (const auto& step : plan.steps) {
    if (mesh_shape[step.mesh_dim] > 1 && step_collective(step.from, step.to)) ++n;
  }
  return n;
}

namespace {

// The executor requires that no later mesh dim (of size > 1) shards a tensor dim a step
// gathers, splits or reduces along; the greedy plan guarantees it.
void check_no_later_shard(const Placements& current, const Shape& mesh_shape,
                          std::int64_t mesh_dim, std::int64_t dim) {
  for (std::size_t j = mesh_dim + 1; j < current.size(); ++j) {
    check_state(!(current[j].is_shard(dim) && mesh_shape[j] > 1),
                "redistribute: internal error: step on mesh dim ", mesh_dim, " moves tensor dim ",
                dim, " while mesh dim ", j, " still shards it (", placements_str(current), ")");
  }
}

}  // namespace

Tensor partition_value(const Tensor& local, ReduceOp op, std::int64_t n, std::int64_t mesh_dim) {
  switch (op) {
    case ReduceOp::Sum: return kernels::binary_scalar(kernels::BinaryOp::Div, local, static_cast<double>(n));
    case ReduceOp::Avg:
    case ReduceOp::Max:
    case ReduceOp::Min: return local.clone();
    case ReduceOp::Product: break;
  }
  throw std::invalid_argument(cat("redistribute: Replicate cannot become Partial(product) on mesh "
                                  "dim ",
                                  mesh_dim, "; only sum, avg, max and min partition a replica"));
}

namespace {

Tensor run_step(const Tensor& local, const RedistributeStep& step, const Placements& current,
                const DTensorSpec& spec, const std::vector<std::int64_t>& coordinate) {
  const std::int64_t m = step.mesh_dim;
  const Shape& mesh_shape = spec.mesh.shape();
  const std::int64_t n = mesh_shape[m];
  const Placement& from = step.from;
  const Placement& to = step.to;
  if (n == 1 || from == to) return local;
  const Shape logical = logical_shape_at(spec.shape, mesh_shape, current, coordinate, m);
  Communicator& group = spec.mesh.group(m);

  if (to.is_replicate()) {
    if (from.is_partial()) {
      Tensor out = local.clone();
      group.all_reduce(out, AllReduceOptions{.op = from.reduce_op()})->wait();
      return out;
    }
    check_no_later_shard(current, mesh_shape, m, from.dim());
    return all_gather_shards(local, group, from.dim(), logical[from.dim()]);
  }
  if (to.is_shard()) {
    const std::int64_t d = to.dim();
    check_no_later_shard(current, mesh_shape, m, d);
    if (from.is_partial()) return reduce_scatter_shards(local, group, d, from.reduce_op());
    if (from.is_replicate()) return local_chunk(local, d, n, coordinate[m]);
    check_no_later_shard(current, mesh_shape, m, from.dim());
    return all_to_all_shards(local, group, from.dim(), logical[from.dim()], d);
  }
  // to is Partial
  if (from.is_replicate()) return partition_value(local, to.reduce_op(), n, m);
  check_step(step);  // S -> P and P(a) -> P(b) throw
  return local;
}

}  // namespace

Tensor redistribute_local(const Tensor& local, const DTensorSpec& spec, const Placements& target) {
  const auto& coordinate = spec.mesh.get_coordinate();
  if (!coordinate) return local;
  const RedistributePlan& plan = plan_redistribute(spec.mesh.shape(), spec.placements, target);
  Placements current = spec.placements;
  Tensor out = local;
  for (const auto& step : plan.steps) {
    out = run_step(out, step, current, spec, *coordinate);
    current[step.mesh_dim] = step.to;
  }
  return out;
}

}  // namespace tensorpar
