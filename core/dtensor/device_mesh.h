#pragma once
// DeviceMesh: an n-D array of global ranks with optional dim names.
//
//   DeviceMesh mesh({2, 4}, {"dp", "tp"});   // ranks [[0,1,2,3],[4,5,6,7]] (row-major)
//   mesh.get_local_rank("tp");               // rank % 4
//   mesh.get_coordinate();                   // {rank / 4, rank % 4}
//   mesh["tp"];                              // the 1-D sub-mesh holding this rank: [4,5,6,7] on 6
//
// Each mesh dim d has a communicator over the ranks that share every other coordinate (the
// rows of the mesh with dim d moved last). Constructing a mesh is collective over the current
// world: every world rank must construct it, in the same order, also ranks outside the mesh.
// The communicators are split from the world once per partition and cached there, so building
// the same mesh twice costs no new split. Sub-meshes reuse their parent's communicators.
// A rank outside the mesh has no coordinate (std::nullopt) and no groups.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/comm/communicator.h"
#include "core/tensor/shape.h"

namespace tensorpar {

class DeviceMesh {
 public:
  DeviceMesh() = default;  // an empty handle: valid() is false
  // init_device_mesh: the ranks 0 .. prod(shape)-1 laid out row-major over the current world.
  explicit DeviceMesh(const Shape& mesh_shape, std::vector<std::string> dim_names = {});
  // An explicit layout: `ranks` (row-major, distinct global ranks) reshaped to `mesh_shape`.
  static DeviceMesh from_ranks(const Shape& mesh_shape, std::vector<int> ranks,
                               std::vector<std::string> dim_names = {});

  bool valid() const { return impl_ != nullptr; }
  std::int64_t ndim() const;
  const Shape& shape() const;
  // Number of ranks in the whole mesh, or along one dim.
  std::int64_t size() const;
  std::int64_t size(std::int64_t mesh_dim) const;
  // Global ranks in row-major order.
  const std::vector<int>& ranks() const;
  const std::vector<std::string>& dim_names() const;
  // This rank's global rank.
  int get_rank() const;
  // This rank's index inside the group of a mesh dim (by index or name). Without an argument
  // only for 1-D meshes. Throws when this rank is outside the mesh.
  int get_local_rank(std::int64_t mesh_dim) const;
  int get_local_rank(std::string_view mesh_dim_name) const;
  int get_local_rank() const;
  // Per-dim indices of this rank, or nullopt when it is not in the mesh.
  const std::optional<std::vector<std::int64_t>>& get_coordinate() const;
  // The index of a named dim; throws naming the valid names.
  std::int64_t dim_index(std::string_view mesh_dim_name) const;
  // The communicator of one mesh dim; throws when this rank is outside the mesh.
  Communicator& group(std::int64_t mesh_dim) const;
  const std::shared_ptr<Communicator>& group_ptr(std::int64_t mesh_dim) const;

  // Sub-mesh over the named dims (ascending order) that contains this rank.
  DeviceMesh operator[](std::string_view mesh_dim_name) const;
  DeviceMesh slice(const std::vector<std::string>& mesh_dim_names) const;

  // "DeviceMesh([[0, 1], [2, 3]], mesh_dim_names=('dp', 'tp'))".
  std::string str() const;

  // Same layout and names (meshes built independently compare equal).
  friend bool operator==(const DeviceMesh& a, const DeviceMesh& b);

 private:
  struct Impl;
  struct Wrap {};
  DeviceMesh(std::shared_ptr<const Impl> impl, Wrap) : impl_(std::move(impl)) {}
  const Impl& checked() const;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace tensorpar

namespace tensorpar {

// `with device_mesh:` — makes `mesh` the rank context's current mesh for the scope's lifetime
// (nests).
// APIs whose mesh argument is optional (parallelize_module) fall back to it.
class MeshScope {
 public:
  explicit MeshScope(const DeviceMesh& mesh);
  ~MeshScope();
  MeshScope(const MeshScope&) = delete;
  MeshScope& operator=(const MeshScope&) = delete;

 private:
  const DeviceMesh* previous_;
  DeviceMesh mesh_;
};

bool has_current_mesh();
// The innermost MeshScope's mesh; std::runtime_error "no device mesh given and no MeshScope
// active" otherwise.
const DeviceMesh& current_mesh();

}  // namespace tensorpar
