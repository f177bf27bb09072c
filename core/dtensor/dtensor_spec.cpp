#include "core/dtensor/dtensor_spec.h"

#include "core/base/error.h"

namespace tensorpar {

std::int64_t DTensorSpec::num_shards() const {
  std::int64_t n = 1;
  for (std::size_t i = 0; i < placements.size(); ++i) {
    if (placements[i].is_shard()) n *= mesh.size(static_cast<std::int64_t>(i));
  }
  return n;
}

bool DTensorSpec::has_partial() const {
  for (const auto& p : placements) {
    if (p.is_partial()) return true;
  }
  return false;
}

std::string DTensorSpec::str() const {
  return cat("DTensorSpec(placements=", placements_str(placements), ", shape=", shape_str(shape),
             ", dtype=", dtype_name(dtype), ")");
}

LocalShard local_shard_of(const Shape& global_shape, const Shape& mesh_shape,
                          const Placements& placements,
                          const std::vector<std::int64_t>& coordinate) {
  LocalShard shard{global_shape, Shape(global_shape.size(), 0)};
  for (std::size_t i = 0; i < placements.size(); ++i) {
    if (!placements[i].is_shard()) continue;
    const auto d = placements[i].dim();
    const ChunkExtent e = chunk_extent(shard.shape[d], mesh_shape[i], coordinate[i]);
    shard.shape[d] = e.size;
    shard.offset[d] += e.offset;
  }
  return shard;
}

Shape logical_shape_at(const Shape& global_shape, const Shape& mesh_shape,
                       const Placements& placements, const std::vector<std::int64_t>& coordinate,
                       std::int64_t mesh_dim) {
  Shape shape = global_shape;
  for (std::int64_t i = 0; i < mesh_dim; ++i) {
    if (!placements[i].is_shard()) continue;
    const auto d = placements[i].dim();
    shape[d] = chunk_extent(shape[d], mesh_shape[i], coordinate[i]).size;
  }
  return shape;
}

Placements normalize_placements(const Placements& placements, std::int64_t mesh_ndim,
                                std::int64_t tensor_ndim, const char* what) {
  check_arg(static_cast<std::int64_t>(placements.size()) == mesh_ndim, what,
            ": `placements` must have the same length as `device_mesh.ndim`! Found placements "
            "length: ",
            placements.size(), ", and device_mesh.ndim: ", mesh_ndim, ".");
  Placements out = placements;
  for (auto& p : out) {
    if (!p.is_shard()) continue;
    const auto d = p.dim();
    if (d < -tensor_ndim || d >= tensor_ndim) {
      throw std::invalid_argument(cat(what, ": ", p.str(), " is out of range for a tensor of ",
                                      tensor_ndim, " dims"));
    }
    if (d < 0) p = Shard(d + tensor_ndim);
  }
  return out;
}

}  // namespace tensorpar
