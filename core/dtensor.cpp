#include "core/dtensor.h"

#include "core/error.h"
#include "core/redistribute.h"
#include "core/shard_collectives.h"

namespace tensorpar {

namespace {

Placements default_placements(const Placements& placements, const DeviceMesh& mesh) {
  if (!placements.empty()) return placements;
  return Placements(static_cast<std::size_t>(mesh.ndim()), Replicate());
}

std::shared_ptr<const DTensorSpec> make_spec(const DeviceMesh& mesh, Placements placements,
                                             Shape shape, DType dtype) {
  return std::make_shared<const DTensorSpec>(
      DTensorSpec{mesh, std::move(placements), std::move(shape), dtype});
}

// Metadata of a local tensor as int64: [dtype, ndim, extents...].
Tensor metadata_of(const Tensor& local) {
  std::vector<std::int64_t> meta = {static_cast<std::int64_t>(local.dtype()), local.dim()};
  meta.insert(meta.end(), local.shape().begin(), local.shape().end());
  return from_vector(meta, {static_cast<std::int64_t>(meta.size())});
}

std::string meta_str(const std::int64_t* meta) {
  Shape shape(meta + 2, meta + 2 + meta[1]);
  return cat(dtype_name(static_cast<DType>(meta[0])), shape_str(shape));
}

// run_check of from_local: per mesh dim, all ranks of the group agree on dtype and rank, on
// every extent but a sharded one, and sharded extents are the chunks of a consistent whole.
void check_local_metadata(const Tensor& local, const DTensorSpec& spec) {
  const DeviceMesh& mesh = spec.mesh;
  const Tensor meta = metadata_of(local);
  const std::int64_t width = meta.numel();
  const auto& coordinate = *mesh.get_coordinate();
  for (std::int64_t m = 0; m < mesh.ndim(); ++m) {
    Communicator& group = mesh.group(m);
    const std::int64_t n = group.size();
    // Ranks of different dims could differ in ndim: gather the width first.
    Tensor widths = Tensor::empty({n}, DType::Int64);
    Tensor my_width = from_vector(std::vector<std::int64_t>{width}, {1});
    group.all_gather(widths, my_width)->wait();
    const auto w = to_vector<std::int64_t>(widths);
    bool consistent = true;
    for (auto x : w) consistent = consistent && x == width;
    std::string detail;
    if (consistent) {
      Tensor all = Tensor::empty({n * width}, DType::Int64);
      group.all_gather(all, meta)->wait();
      const auto v = to_vector<std::int64_t>(all);
      const Placement& p = spec.placements[m];
      const Shape logical = logical_shape_at(spec.shape, mesh.shape(), spec.placements,
                                             coordinate, m);
      for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t* theirs = v.data() + k * width;
        bool same = theirs[0] == v[0] && theirs[1] == v[1];
        for (std::int64_t d = 0; same && d < local.dim(); ++d) {
          if (p.is_shard(d)) {
            same = theirs[2 + d] == chunk_extent(logical[d], n, k).size;
          } else {
            same = theirs[2 + d] == v[2 + d];
          }
        }
        if (!same) consistent = false;
        detail += cat(k ? ", " : "", "group rank ", k, ": ", meta_str(theirs));
      }
    }
    if (!consistent) {
      throw std::invalid_argument(
          cat("from_local: Inconsistent tensor metadata (including shape and stride) across "
              "ranks. Mesh dim ",
              m, " (", group.describe(), ") with ", spec.placements[m].str(), " for global shape ",
              shape_str(spec.shape), ": ", detail.empty() ? "ranks differ in ndim" : detail,
              ". Pass FromLocalOptions::shape for uneven shards."));
    }
  }
}

}  // namespace

DTensor::DTensor(Tensor local, std::shared_ptr<const DTensorSpec> spec)
    : local_(std::move(local)), spec_(std::move(spec)) {
  check_arg(spec_ != nullptr, "DTensor: spec must not be null");
}

const DTensorSpec& DTensor::spec() const {
  check_state(spec_ != nullptr, "DTensor: used an undefined (default-constructed) DTensor");
  return *spec_;
}

const Tensor& DTensor::to_local() const {
  spec();
  return local_;
}

DTensor DTensor::from_local(const Tensor& local, const DeviceMesh& mesh,
                            const Placements& placements, const FromLocalOptions& options) {
  check_arg(local.defined(), "from_local: local_tensor is undefined");
  check_arg(mesh.valid(), "from_local: device_mesh is empty");
  Placements ps = normalize_placements(default_placements(placements, mesh), mesh.ndim(),
                                       local.dim(), "from_local");
  const auto& coordinate = mesh.get_coordinate();
  if (!coordinate) {
    // Outside the mesh: an empty local tensor, the global shape as given (or unknown: empty).
    Shape shape = options.shape.value_or(Shape(local.dim(), 0));
    return DTensor(Tensor::empty({0}, local.dtype()),
                   make_spec(mesh, std::move(ps), std::move(shape), local.dtype()));
  }
  Shape global = local.shape();
  if (options.shape) {
    check_arg(static_cast<std::int64_t>(options.shape->size()) == local.dim(),
              "from_local: shape ", shape_text(*options.shape), " has ", options.shape->size(),
              " dims but the local tensor has ", local.dim());
    global = *options.shape;
    const LocalShard expect = local_shard_of(global, mesh.shape(), ps, *coordinate);
    check_arg(expect.shape == local.shape(), "from_local: local tensor shape ",
              shape_text(local.shape()), " on rank ", mesh.get_rank(),
              " does not match the shard ", shape_text(expect.shape),
              " that the torch.chunk rule gives for shape ", shape_text(global), " with placements ",
              placements_str(ps), " at coordinate ", shape_text(*coordinate));
  } else {
    for (std::size_t m = 0; m < ps.size(); ++m) {
      if (ps[m].is_shard()) global[ps[m].dim()] *= mesh.shape()[m];
    }
  }
  auto spec = make_spec(mesh, ps, global, local.dtype());
  if (!options.run_check) return DTensor(local, std::move(spec));

  check_local_metadata(local, *spec);
  Tensor checked = local;
  for (std::int64_t m = 0; m < mesh.ndim(); ++m) {
    if (!ps[m].is_replicate() || mesh.size(m) == 1) continue;
    if (checked.shares_storage_with(local)) checked = local.clone();
    mesh.group(m).broadcast(checked, BroadcastOptions{.root = 0})->wait();
  }
  return DTensor(checked, std::move(spec));
}

Tensor DTensor::full_tensor() const {
  const DTensorSpec& s = spec();
  return redistribute(Placements(s.placements.size(), Replicate())).to_local();
}

DTensor DTensor::redistribute(const Placements& placements) const {
  return redistribute(spec().mesh, placements);
}

DTensor DTensor::redistribute(const DeviceMesh& mesh, const Placements& placements) const {
  const DTensorSpec& s = spec();
  if (!(mesh == s.mesh)) throw std::runtime_error("Cross device mesh comm not supported yet!");
  check_arg(!placements.empty(), "placements is needed for redistribute!");
  Placements target = normalize_placements(placements, mesh.ndim(), dim(), "redistribute");
  for (std::size_t m = 0; m < target.size(); ++m) {
    if (!target[m].is_partial() || target[m] == s.placements[m]) continue;
    if (s.placements[m].is_partial()) {
      throw std::invalid_argument(cat("redistribute: Redistribution from one partial type (",
                                      s.placements[m].str(), ") to another (", target[m].str(),
                                      ") is unsupported (mesh dim ", m, ")"));
    }
    throw std::invalid_argument(cat("Can not redistribute from ", placements_str(s.placements),
                                    " to ", placements_str(target),
                                    ", redistributing to Partial is for internal use only!"));
  }
  if (target == s.placements) return *this;
  Tensor local = redistribute_local(local_, s, target);
  return DTensor(std::move(local), make_spec(s.mesh, std::move(target), s.shape, s.dtype));
}

std::string DTensor::str() const {
  const DTensorSpec& s = spec();
  return cat("DTensor(local=", local_.to_string(), ", placements=", placements_str(s.placements),
             ", shape=", shape_str(s.shape), ", mesh=", s.mesh.str(), ")");
}

DTensor distribute_tensor(const Tensor& tensor, const DeviceMesh& mesh,
                          const Placements& placements, std::optional<int> src_data_rank) {
  check_arg(tensor.defined(), "distribute_tensor: tensor is undefined");
  check_arg(mesh.valid(), "distribute_tensor: device_mesh is empty");
  Placements ps = normalize_placements(default_placements(placements, mesh), mesh.ndim(),
                                       tensor.dim(), "distribute_tensor");
  if (src_data_rank) {
    for (std::int64_t m = 0; m < mesh.ndim(); ++m) {
      check_arg(*src_data_rank >= 0 && *src_data_rank < mesh.size(m),
                "distribute_tensor: src_data_rank ", *src_data_rank,
                " is out of range for mesh dim ", m, " of size ", mesh.size(m));
    }
  }
  auto spec = make_spec(mesh, ps, tensor.shape(), tensor.dtype());
  const auto& coordinate = mesh.get_coordinate();
  if (!coordinate) return DTensor(Tensor::empty({0}, tensor.dtype()), std::move(spec));

  Tensor local = tensor;
  for (std::int64_t m = 0; m < mesh.ndim(); ++m) {
    const Placement& p = ps[m];
    const std::int64_t n = mesh.size(m);
    if (p.is_shard()) {
      local = (src_data_rank && n > 1) ? scatter_shards(local, mesh.group(m), p.dim(), *src_data_rank)
                                       : local_chunk(local, p.dim(), n, (*coordinate)[m]);
      continue;
    }
    if (src_data_rank && n > 1) {
      if (local.shares_storage_with(tensor)) local = local.clone();
      mesh.group(m).broadcast(local, BroadcastOptions{.root = *src_data_rank})->wait();
    }
    if (p.is_partial() && n > 1) local = partition_value(local, p.reduce_op(), n, m);
  }
  if (local.shares_storage_with(tensor)) local = local.clone();
  return DTensor(std::move(local), std::move(spec));
}

}  // namespace tensorpar
