#include "core/dtensor/dtensor.h"

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/kernels/elementwise.h"
#include "core/dtensor/redistribute.h"
#include "core/dtensor/shard_collectives.h"
#include "core/tensor/meta_device.h"

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

// Metadata of a local tensor as int64: [dtype, ndim, extents...], on the local tensor's device,
// because a communicator may move only that device's buffers (NCCL does).
Tensor metadata_of(const Tensor& local) {
  std::vector<std::int64_t> meta = {static_cast<std::int64_t>(local.dtype()), local.dim()};
  meta.insert(meta.end(), local.shape().begin(), local.shape().end());
  return from_vector(meta, {static_cast<std::int64_t>(meta.size())}, local.device());
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
    Tensor widths = Tensor::empty({n}, DType::Int64, local.device());
    Tensor my_width = from_vector(std::vector<std::int64_t>{width}, {1}, local.device());
    group.all_gather(widths, my_width)->wait();
    if (is_meta(local.device())) {
      // A shape-only run (docs/shape_only.md): the peers' metadata has no values to compare.
      // The same collectives are issued, so the run's collective sequence is the real one.
      Tensor all = Tensor::empty({n * width}, DType::Int64, local.device());
      group.all_gather(all, meta)->wait();
      continue;
    }
    const auto w = to_vector<std::int64_t>(widths);
    bool consistent = true;
    for (auto x : w) consistent = consistent && x == width;
    std::string detail;
    if (consistent) {
      Tensor all = Tensor::empty({n * width}, DType::Int64, local.device());
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

namespace {

// The placements a gradient (now `current`) is brought to when it flows back to a tensor that had
// `source`. A Partial source takes the gradient as Replicate, except that a gradient that is
// itself Partial stays Partial (no reduction until something needs the value):
//   source P, grad S(0) -> all_gather to R;  source P, grad P -> P (free);  source S(0), grad P ->
//   reduce_scatter to S(0).
Placements grad_target(const Placements& source, const Placements& current) {
  Placements out = source;
  for (std::size_t m = 0; m < out.size(); ++m) {
    if (out[m].is_partial() && !(current[m].is_partial() && current[m] == out[m])) {
      out[m] = Replicate();
    }
  }
  return out;
}

Tensor redistribute_grad(const Tensor& grad, const Placements& source, const char* what) {
  check_state(grad.is_distributed(), what, ": expected a DTensor gradient, got a plain tensor");
  const DTensor g(grad);
  const Placements target = grad_target(source, g.placements());
  if (g.placements() == target) return grad;
  NoGradGuard no_grad;
  return redistribute_internal(g, target);
}

// from_local's backward: the gradient redistributed to the from_local placements (Partial read
// as Replicate), then its local tensor.
class FromLocalBackward final : public Node {
 public:
  explicit FromLocalBackward(Placements placements) : target_(std::move(placements)) {}
  std::string name() const override { return "FromLocalBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    if (!grads[0].defined()) return {Tensor()};
    const DTensor g(redistribute_grad(grads[0], target_, name().c_str()));
    return {g.to_local()};
  }

 private:
  Placements target_;
};

// to_local's backward: the plain gradient wrapped as a DTensor; never communicates.
class ToLocalBackward final : public Node {
 public:
  ToLocalBackward(std::shared_ptr<const DTensorSpec> spec) : spec_(std::move(spec)) {}
  std::string name() const override { return "ToLocalBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    if (!grads[0].defined()) return {Tensor()};
    check_state(!grads[0].is_distributed(), "ToLocalBackward: expected a plain gradient");
    return {DTensor(grads[0], spec_)};
  }

 private:
  std::shared_ptr<const DTensorSpec> spec_;
};

// redistribute's backward: the gradient goes back to the source placements, Partial read as
// Replicate.
class RedistributeBackward final : public Node {
 public:
  explicit RedistributeBackward(const Placements& source) : target_(source) {}
  std::string name() const override { return "RedistributeBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    if (!grads[0].defined()) return {Tensor()};
    return {redistribute_grad(grads[0], target_, name().c_str())};
  }

 private:
  Placements target_;
};

std::shared_ptr<TensorImpl> distributed_impl(Tensor local, std::shared_ptr<const DTensorSpec> spec) {
  check_arg(spec != nullptr, "DTensor: spec must not be null");
  check_arg(local.defined(), "DTensor: local tensor is undefined");
  check_arg(!local.is_distributed(), "DTensor: the local tensor is itself a DTensor");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = spec->shape;
  impl->dtype = spec->dtype;
  impl->device = local.device();
  impl->dist = std::make_shared<const DistributedPart>(DistributedPart{std::move(local), std::move(spec)});
  return impl;
}

// A DTensor on `local`, recorded with `node` (edges to `inputs`) when any input requires grad.
DTensor record(DTensor out, std::shared_ptr<Node> node, const std::vector<Tensor>& inputs) {
  if (!any_requires_grad(inputs)) return out;
  collect_next_edges(*node, inputs);
  set_history(out, node);
  return out;
}

DTensor redistribute_impl(const DTensor& x, const Placements& target) {
  const DTensorSpec& s = x.spec();
  const bool record_grad = any_requires_grad({x});
  if (target == s.placements && !record_grad) return x;
  Tensor local = target == s.placements ? x.to_local(std::nullopt).detach()
                                        : redistribute_local(x.detach().impl()->dist->local, s, target);
  DTensor out(std::move(local), make_spec(s.mesh, target, s.shape, s.dtype));
  return record(std::move(out), std::make_shared<RedistributeBackward>(s.placements), {x});
}

}  // namespace

DTensor::DTensor(Tensor local, std::shared_ptr<const DTensorSpec> spec)
    : Tensor(distributed_impl(std::move(local), std::move(spec))) {}

DTensor::DTensor(const Tensor& tensor) : Tensor(tensor) {
  check_arg(tensor.defined(), "DTensor: the tensor is undefined");
  check_arg(tensor.is_distributed(), "DTensor: expected a DTensor, got a plain tensor of shape ",
            shape_text(tensor.shape()));
}

const DistributedPart& DTensor::part() const {
  check_state(defined() && impl()->dist != nullptr,
              "DTensor: used an undefined (default-constructed) DTensor");
  return *impl()->dist;
}

const DTensorSpec& DTensor::spec() const { return *part().spec; }

const std::shared_ptr<const DTensorSpec>& DTensor::spec_ptr() const { return part().spec; }

Tensor DTensor::to_local(const std::optional<Placements>& grad_placements) const {
  const DistributedPart& p = part();
  if (!any_requires_grad({*this})) return p.local;
  std::shared_ptr<const DTensorSpec> spec = p.spec;
  if (grad_placements) {
    Placements gp = normalize_placements(*grad_placements, spec->mesh.ndim(), dim(), "to_local");
    spec = make_spec(spec->mesh, std::move(gp), spec->shape, spec->dtype);
  }
  Tensor out = p.local.detach();
  auto node = std::make_shared<ToLocalBackward>(std::move(spec));
  collect_next_edges(*node, {*this});
  set_history(out, node);
  return out;
}

DTensor DTensor::from_local(const Tensor& local, const DeviceMesh& mesh,
                            const Placements& placements, const FromLocalOptions& options) {
  check_arg(local.defined(), "from_local: local_tensor is undefined");
  check_arg(!local.is_distributed(), "from_local: local_tensor is already a DTensor");
  check_arg(mesh.valid(), "from_local: device_mesh is empty");
  Placements ps = normalize_placements(default_placements(placements, mesh), mesh.ndim(),
                                       local.dim(), "from_local");
  const auto& coordinate = mesh.get_coordinate();
  if (!coordinate) {
    // Outside the mesh: an empty local tensor, the global shape as given (or unknown: empty).
    Shape shape = options.shape.value_or(Shape(local.dim(), 0));
    return DTensor(Tensor::empty({0}, local.dtype(), local.device()),
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
  Tensor data = local.detach();
  if (options.run_check) {
    check_local_metadata(local, *spec);
    for (std::int64_t m = 0; m < mesh.ndim(); ++m) {
      if (!ps[m].is_replicate() || mesh.size(m) == 1) continue;
      if (data.shares_storage_with(local)) data = local.clone();
      mesh.group(m).broadcast(data, BroadcastOptions{.root = 0})->wait();
    }
  }
  return record(DTensor(std::move(data), std::move(spec)),
                std::make_shared<FromLocalBackward>(ps), {local});
}

Tensor DTensor::full_tensor(const std::optional<Placements>& grad_placements) const {
  const DTensorSpec& s = spec();
  return redistribute(Placements(s.placements.size(), Replicate())).to_local(grad_placements);
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
  return redistribute_impl(*this, target);
}

DTensor redistribute_internal(const DTensor& x, const Placements& placements) {
  Placements target = normalize_placements(placements, x.device_mesh().ndim(), x.dim(),
                                           "redistribute");
  return redistribute_impl(x, target);
}

std::string DTensor::str() const {
  const DTensorSpec& s = spec();
  return cat("DTensor(local=", part().local.to_string(), ", placements=",
             placements_str(s.placements), ", shape=", shape_str(s.shape), ", mesh=", s.mesh.str(),
             ")");
}

DTensor accumulate_dtensor_grads(const DTensor& a, const DTensor& b) {
  check_arg(a.device_mesh() == b.device_mesh(),
            "accumulate_grads: the two DTensor gradients live on different meshes");
  const Placements& pa = a.placements();
  const Placements& pb = b.placements();
  Placements target = pa;
  for (std::size_t m = 0; m < pa.size(); ++m) {
    if (pa[m] == pb[m]) continue;
    if (pa[m].is_partial()) continue;
    if (pb[m].is_partial()) {
      target[m] = pb[m];
    } else if (pa[m].is_replicate()) {
      target[m] = pb[m];  // a Shard beside a Replicate stays Shard
    }
  }
  NoGradGuard no_grad;
  const DTensor x = pa == target ? a : redistribute_internal(a, target);
  const DTensor y = pb == target ? b : redistribute_internal(b, target);
  Tensor sum = x.to_local().clone();
  kernels::axpy_(sum, 1.0, y.to_local());
  return DTensor(std::move(sum), x.spec_ptr());
}

Tensor distributed_ones_like(const Tensor& root) {
  const DTensor d(root);
  Placements ps = d.placements();
  for (Placement& p : ps) {
    if (p.is_partial()) p = Replicate();
  }
  auto spec = make_spec(d.device_mesh(), ps, d.shape(), d.dtype());
  const auto& coordinate = d.device_mesh().get_coordinate();
  Shape local_shape =
      coordinate ? local_shard_of(d.shape(), d.device_mesh().shape(), ps, *coordinate).shape
                 : Shape{0};
  return DTensor(ones(local_shape, d.dtype(), d.device()), std::move(spec));
}

Tensor accumulate_distributed_grads(const Tensor& a, const Tensor& b) {
  return accumulate_dtensor_grads(DTensor(a), DTensor(b));
}

DTensor distribute_tensor(const Tensor& tensor, const DeviceMesh& mesh,
                          const Placements& placements, std::optional<int> src_data_rank) {
  check_arg(tensor.defined(), "distribute_tensor: tensor is undefined");
  check_arg(mesh.valid(), "distribute_tensor: device_mesh is empty");
  check_state(tensor.is_leaf(),
              "`distribute_tensor` should be used to distribute leaf tensors! but found non-leaf "
              "tensor!");
  Placements ps = normalize_placements(default_placements(placements, mesh), mesh.ndim(),
                                       tensor.dim(), "distribute_tensor");
  if (tensor.is_distributed()) {
    const DTensor d(tensor);
    check_arg(d.device_mesh() == mesh, "distribute_tensor: cannot distribute a DTensor with mesh ",
              d.device_mesh().str(), " to a different mesh ", mesh.str());
    check_arg(d.placements() == ps, "distribute_tensor: cannot distribute a DTensor with "
              "placements ", placements_str(d.placements()), " to a different placements ",
              placements_str(ps), ". do you want to call `redistribute` instead?");
    return d;
  }
  if (src_data_rank) {
    for (std::int64_t m = 0; m < mesh.ndim(); ++m) {
      check_arg(*src_data_rank >= 0 && *src_data_rank < mesh.size(m),
                "distribute_tensor: src_data_rank ", *src_data_rank,
                " is out of range for mesh dim ", m, " of size ", mesh.size(m));
    }
  }
  auto spec = make_spec(mesh, ps, tensor.shape(), tensor.dtype());
  const auto& coordinate = mesh.get_coordinate();
  const bool requires_grad = tensor.requires_grad();
  auto leaf = [requires_grad](DTensor d) {
    if (requires_grad) d.requires_grad_();
    return d;
  };
  if (!coordinate) return leaf(DTensor(Tensor::empty({0}, tensor.dtype(), tensor.device()), std::move(spec)));

  const Tensor data = tensor.detach();
  Tensor local = data;
  for (std::int64_t m = 0; m < mesh.ndim(); ++m) {
    const Placement& p = ps[m];
    const std::int64_t n = mesh.size(m);
    if (p.is_shard()) {
      local = (src_data_rank && n > 1) ? scatter_shards(local, mesh.group(m), p.dim(), *src_data_rank)
                                       : local_chunk(local, p.dim(), n, (*coordinate)[m]);
      continue;
    }
    if (src_data_rank && n > 1) {
      if (local.shares_storage_with(data)) local = local.clone();
      mesh.group(m).broadcast(local, BroadcastOptions{.root = *src_data_rank})->wait();
    }
    if (p.is_partial() && n > 1) local = partition_value(local, p.reduce_op(), n, m);
  }
  if (local.shares_storage_with(data)) local = local.clone();
  return leaf(DTensor(std::move(local), std::move(spec)));
}

}  // namespace tensorpar
