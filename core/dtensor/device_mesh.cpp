#include "core/dtensor/device_mesh.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "core/base/error.h"
#include "core/base/rank_context.h"
#include "core/comm/rank_context.h"

namespace tensorpar {

struct DeviceMesh::Impl {
  Shape shape;
  std::vector<int> ranks;  // row-major
  std::vector<std::string> names;
  int global_rank = -1;
  std::optional<std::vector<std::int64_t>> coordinate;
  std::vector<std::shared_ptr<Communicator>> groups;  // one per mesh dim; null outside the mesh
};

namespace {

std::string names_str(const std::vector<std::string>& names) {
  std::string out = "(";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += "'" + names[i] + "'";
  }
  return out + (names.size() == 1 ? ",)" : ")");
}

// Row-major coordinate of flat index `flat` in `shape`.
std::vector<std::int64_t> unravel(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> coord(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    coord[d] = flat % shape[d];
    flat /= shape[d];
  }
  return coord;
}

std::int64_t ravel(const std::vector<std::int64_t>& coord, const Shape& shape) {
  std::int64_t flat = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + coord[d];
  return flat;
}

// The groups of mesh dim `dim`: for each combination of the other coordinates, the ranks along
// `dim` in order. For shape (2, 3) and dim 0: [r(0,0), r(1,0)], [r(0,1), r(1,1)], [r(0,2), r(1,2)].
std::vector<std::vector<int>> dim_groups(const Shape& shape, const std::vector<int>& ranks,
                                         std::size_t dim) {
  std::vector<std::vector<int>> groups;
  const std::int64_t total = numel(shape);
  for (std::int64_t flat = 0; flat < total; ++flat) {
    auto coord = unravel(flat, shape);
    if (coord[dim] != 0) continue;
    std::vector<int> group;
    for (std::int64_t k = 0; k < shape[dim]; ++k) {
      coord[dim] = k;
      group.push_back(ranks[ravel(coord, shape)]);
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

void check_names(const Shape& shape, const std::vector<std::string>& names) {
  if (names.empty()) return;
  if (names.size() != shape.size()) {
    throw std::invalid_argument(cat("DeviceMesh: mesh_shape and mesh_dim_names should have same "
                                    "length! (mesh_shape ", shape_str(shape), ", mesh_dim_names ",
                                    names_str(names), ")"));
  }
  std::set<std::string> unique(names.begin(), names.end());
  check_arg(unique.size() == names.size(), "DeviceMesh: Each mesh_dim_name must be unique. (got ",
            names_str(names), ")");
}

}  // namespace

DeviceMesh::DeviceMesh(const Shape& mesh_shape, std::vector<std::string> dim_names) {
  std::int64_t n = 1;
  for (auto s : mesh_shape) n *= std::max<std::int64_t>(s, 0);
  std::vector<int> ranks(static_cast<std::size_t>(n));
  std::iota(ranks.begin(), ranks.end(), 0);
  *this = from_ranks(mesh_shape, std::move(ranks), std::move(dim_names));
}

DeviceMesh DeviceMesh::from_ranks(const Shape& mesh_shape, std::vector<int> ranks,
                                  std::vector<std::string> dim_names) {
  check_arg(!mesh_shape.empty(), "DeviceMesh: mesh_shape must have at least one dim");
  for (auto s : mesh_shape) {
    check_arg(s > 0, "DeviceMesh: mesh_shape ", shape_text(mesh_shape),
              " has a non-positive extent");
  }
  check_names(mesh_shape, dim_names);
  check_arg(static_cast<std::int64_t>(ranks.size()) == numel(mesh_shape), "DeviceMesh: ",
            ranks.size(), " ranks do not fill mesh_shape ", shape_text(mesh_shape));
  auto world = current_world_ptr();
  if (static_cast<std::int64_t>(ranks.size()) > world->size()) {
    throw std::runtime_error(cat("DeviceMesh: Mesh should not be bigger than default world size (",
                                 ranks.size(), " ranks, world size ", world->size(), ")"));
  }
  std::set<int> seen;
  for (int r : ranks) {
    check_arg(r >= 0 && r < world->size(), "DeviceMesh: rank ", r,
              " is out of range for world size ", world->size());
    check_arg(seen.insert(r).second, "DeviceMesh: rank ", r, " appears twice in the mesh");
  }

  auto impl = std::make_shared<Impl>();
  impl->shape = mesh_shape;
  impl->ranks = std::move(ranks);
  impl->names = std::move(dim_names);
  impl->global_rank = world->rank();
  auto it = std::find(impl->ranks.begin(), impl->ranks.end(), impl->global_rank);
  if (it != impl->ranks.end()) {
    impl->coordinate = unravel(it - impl->ranks.begin(), impl->shape);
  }
  for (std::size_t d = 0; d < mesh_shape.size(); ++d) {
    // A 1-D mesh over the whole world in rank order is the world itself.
    if (mesh_shape.size() == 1 && static_cast<int>(impl->ranks.size()) == world->size() &&
        std::is_sorted(impl->ranks.begin(), impl->ranks.end())) {
      impl->groups.push_back(world);
      continue;
    }
    impl->groups.push_back(world->subgroup(dim_groups(impl->shape, impl->ranks, d)));
  }
  return DeviceMesh(std::shared_ptr<const Impl>(std::move(impl)), Wrap{});
}

const DeviceMesh::Impl& DeviceMesh::checked() const {
  check_state(impl_ != nullptr, "DeviceMesh: used an empty (default-constructed) mesh");
  return *impl_;
}

std::int64_t DeviceMesh::ndim() const { return static_cast<std::int64_t>(checked().shape.size()); }
const Shape& DeviceMesh::shape() const { return checked().shape; }
std::int64_t DeviceMesh::size() const { return static_cast<std::int64_t>(checked().ranks.size()); }

std::int64_t DeviceMesh::size(std::int64_t mesh_dim) const {
  check_arg(mesh_dim >= 0 && mesh_dim < ndim(), "DeviceMesh::size: mesh_dim ", mesh_dim,
            " is out of range for a mesh of ", ndim(), " dims");
  return checked().shape[mesh_dim];
}

const std::vector<int>& DeviceMesh::ranks() const { return checked().ranks; }
const std::vector<std::string>& DeviceMesh::dim_names() const { return checked().names; }
int DeviceMesh::get_rank() const { return checked().global_rank; }

const std::optional<std::vector<std::int64_t>>& DeviceMesh::get_coordinate() const {
  return checked().coordinate;
}

int DeviceMesh::get_local_rank(std::int64_t mesh_dim) const {
  check_arg(mesh_dim >= 0 && mesh_dim < ndim(), "DeviceMesh::get_local_rank: mesh_dim ", mesh_dim,
            " is out of range for a mesh of ", ndim(), " dims");
  const auto& coord = get_coordinate();
  check_state(coord.has_value(), "DeviceMesh::get_local_rank: rank ", get_rank(),
              " is not part of ", str());
  return static_cast<int>((*coord)[mesh_dim]);
}

int DeviceMesh::get_local_rank(std::string_view mesh_dim_name) const {
  return get_local_rank(dim_index(mesh_dim_name));
}

int DeviceMesh::get_local_rank() const {
  check_state(ndim() == 1, "DeviceMesh::get_local_rank: mesh_dim is required for a mesh of ",
              ndim(), " dims");
  return get_local_rank(0);
}

std::int64_t DeviceMesh::dim_index(std::string_view mesh_dim_name) const {
  const auto& names = dim_names();
  check_state(!names.empty(), "Cannot slice a DeviceMesh without mesh_dim_names!");
  auto it = std::find(names.begin(), names.end(), mesh_dim_name);
  if (it == names.end()) {
    throw std::out_of_range(cat("Invalid mesh_dim_names ('", mesh_dim_name,
                                "',). Valid mesh_dim_names are ", names_str(names), "."));
  }
  return it - names.begin();
}

const std::shared_ptr<Communicator>& DeviceMesh::group_ptr(std::int64_t mesh_dim) const {
  check_arg(mesh_dim >= 0 && mesh_dim < ndim(), "DeviceMesh::group: mesh_dim ", mesh_dim,
            " is out of range for a mesh of ", ndim(), " dims");
  const auto& g = checked().groups[mesh_dim];
  check_state(g != nullptr, "DeviceMesh::group: rank ", get_rank(), " is not part of ", str());
  return g;
}

Communicator& DeviceMesh::group(std::int64_t mesh_dim) const { return *group_ptr(mesh_dim); }

DeviceMesh DeviceMesh::operator[](std::string_view mesh_dim_name) const {
  return slice({std::string(mesh_dim_name)});
}

DeviceMesh DeviceMesh::slice(const std::vector<std::string>& mesh_dim_names) const {
  const Impl& self = checked();
  check_state(!self.names.empty(), "Cannot slice a DeviceMesh without mesh_dim_names!");
  check_arg(!mesh_dim_names.empty(), "DeviceMesh::slice: no mesh_dim_names given");
  std::vector<std::int64_t> dims;
  for (const auto& name : mesh_dim_names) {
    auto it = std::find(self.names.begin(), self.names.end(), name);
    if (it == self.names.end()) {
      throw std::out_of_range(cat("Invalid mesh_dim_names ", names_str(mesh_dim_names),
                                  ". Valid mesh_dim_names are ", names_str(self.names), "."));
    }
    dims.push_back(it - self.names.begin());
  }
  for (std::size_t i = 1; i < dims.size(); ++i) {
    if (dims[i] <= dims[i - 1]) {
      throw std::out_of_range(cat("Invalid mesh_dim_names ", names_str(mesh_dim_names),
                                  ". Mesh dim indices should be in ascending order."));
    }
  }
  if (dims.size() == self.shape.size()) return *this;
  check_state(self.coordinate.has_value(), "DeviceMesh::slice: rank ", self.global_rank,
              " is not part of ", str(), ", so it has no sub-mesh");

  auto sub = std::make_shared<Impl>();
  sub->global_rank = self.global_rank;
  for (auto d : dims) {
    sub->shape.push_back(self.shape[d]);
    sub->names.push_back(self.names[d]);
    sub->groups.push_back(self.groups[d]);
  }
  // The sub-mesh holds the ranks that share this rank's coordinates on the dropped dims.
  std::vector<std::int64_t> sub_coord;
  for (auto d : dims) sub_coord.push_back((*self.coordinate)[d]);
  sub->coordinate = sub_coord;
  const std::int64_t total = numel(sub->shape);
  for (std::int64_t flat = 0; flat < total; ++flat) {
    auto coord = *self.coordinate;
    auto inner = unravel(flat, sub->shape);
    for (std::size_t i = 0; i < dims.size(); ++i) coord[dims[i]] = inner[i];
    sub->ranks.push_back(self.ranks[ravel(coord, self.shape)]);
  }
  return DeviceMesh(std::shared_ptr<const Impl>(std::move(sub)), Wrap{});
}

std::string DeviceMesh::str() const {
  const Impl& self = checked();
  // Nested lists, row-major: [[0, 1], [2, 3]].
  std::string body;
  const auto strides = contiguous_strides(self.shape);
  for (std::size_t i = 0; i < self.ranks.size(); ++i) {
    const auto at = static_cast<std::int64_t>(i);
    for (std::size_t d = 0; d < self.shape.size(); ++d) {
      if (at % (strides[d] * self.shape[d]) == 0) body += "[";
    }
    body += std::to_string(self.ranks[i]);
    std::size_t closes = 0;
    for (std::size_t d = self.shape.size(); d-- > 0;) {
      if ((at + 1) % (strides[d] * self.shape[d]) != 0) break;
      ++closes;
    }
    body += std::string(closes, ']');
    if (i + 1 < self.ranks.size()) body += ", ";
  }
  std::string out = "DeviceMesh(" + body;
  if (!self.names.empty()) out += ", mesh_dim_names=" + names_str(self.names);
  return out + ")";
}

bool operator==(const DeviceMesh& a, const DeviceMesh& b) {
  if (a.impl_ == b.impl_) return true;
  if (!a.impl_ || !b.impl_) return false;
  return a.impl_->shape == b.impl_->shape && a.impl_->ranks == b.impl_->ranks &&
         a.impl_->names == b.impl_->names;
}

}  // namespace tensorpar

namespace tensorpar {

namespace {
// Atomic so that a helper thread handed the rank's context reads it while the rank runs (the mesh
// itself lives as long as the rank's MeshScope).
struct CurrentMesh {
  std::atomic<const DeviceMesh*> innermost{nullptr};
};
constexpr RankContext::Slot<CurrentMesh> kCurrentMeshSlot{RankSlot::CurrentMesh};

std::atomic<const DeviceMesh*>& innermost_mesh() {
  return RankContext::current().get(kCurrentMeshSlot).innermost;
}
}  // namespace

MeshScope::MeshScope(const DeviceMesh& mesh)
    : previous_(innermost_mesh().load(std::memory_order_acquire)), mesh_(mesh) {
  check_arg(mesh.valid(), "MeshScope: the mesh is an empty handle");
  innermost_mesh().store(&mesh_, std::memory_order_release);
}

MeshScope::~MeshScope() { innermost_mesh().store(previous_, std::memory_order_release); }

bool has_current_mesh() { return innermost_mesh().load(std::memory_order_acquire) != nullptr; }

const DeviceMesh& current_mesh() {
  const DeviceMesh* mesh = innermost_mesh().load(std::memory_order_acquire);
  check_state(mesh != nullptr, "no device mesh given and no MeshScope active");
  return *mesh;
}

}  // namespace tensorpar
