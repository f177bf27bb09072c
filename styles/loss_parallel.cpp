// loss_parallel's handlers: the class-sharded log_softmax, nll_loss and cross_entropy with their
// autograd nodes. Every rank runs the single-device arithmetic (core/kernels/softmax.cpp,
// loss.cpp) on its slice of classes; only the row statistics and the target log-probabilities
// cross ranks. The arithmetic is ops on local tensors plus the vocab-parallel kernel entries
// (core/kernels/vocab_parallel.h) for what touches each position's target class, so this file
// never reads a tensor's memory and runs unchanged on every device.
#include "styles/loss_parallel.h"

#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/dtensor/dtensor.h"
#include "core/kernels/vocab_parallel.h"
#include "core/ops/loss_parallel_hooks.h"
#include "core/ops/ops.h"

namespace tensorpar {

namespace {

const Tensor& local_of(const Tensor& t) { return t.impl()->dist->local; }

// The local tensor's slice of classes: its class dim and the global range [offset, offset +
// local) of `classes`. Example: (8, 16, 12) sharded on dim 1 over 3 ranks: rank 2 holds classes
// [12, 16), so dim 1, local 4, offset 12, classes 16.
struct ClassShard {
  std::int64_t dim = 1;
  std::int64_t local = 0;
  std::int64_t offset = 0, classes = 0;
  // The local shape with the class dim set to 1: row statistics that broadcast over the classes.
  Shape stat_shape(const Shape& local_shape) const {
    Shape s = local_shape;
    s[std::size_t(dim)] = 1;
    return s;
  }
};

// What loss_parallel accepts as its sharded input; the messages follow PyTorch's.
ClassShard class_shard(const DTensor& x, std::int64_t dim, const char* what) {
  const DeviceMesh& mesh = x.device_mesh();
  if (mesh.ndim() != 1) {
    throw std::invalid_argument(cat(
        what, ": Currently loss_parallel() only supports input on one-dimensional DeviceMesh. Got ",
        mesh.str(), " with placements ", placements_str(x.placements())));
  }
  if (!x.placements()[0].is_shard(dim)) {
    throw std::invalid_argument(
        cat(what, ": loss_parallel() should be enabled only when the input tensor is sharded on ",
            "dimension ", dim, "; got placements ", placements_str(x.placements()),
            " for input shape ", shape_text(x.shape())));
  }
  check_arg(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, what, ": dtype ",
            dtype_name(x.dtype()), " is not supported under loss_parallel()");
  const auto& coordinate = mesh.get_coordinate();
  check_arg(coordinate.has_value(), what, ": this rank is not part of the mesh ", mesh.str());
  const Shape& shape = x.shape();
  const ChunkExtent e = chunk_extent(shape[std::size_t(dim)], mesh.size(0), (*coordinate)[0]);
  ClassShard v;
  v.dim = dim;
  v.local = e.size;
  v.offset = e.offset;
  v.classes = shape[std::size_t(dim)];
  return v;
}

// The class dim of a loss input: 1, or 0 for a 1-D input (C) with a 0-d target.
std::int64_t class_dim(const DTensor& x, const char* what) {
  check_arg(x.dim() >= 1, what, ": input must have at least 1 dim, got ", shape_text(x.shape()));
  return x.dim() == 1 ? 0 : 1;
}

// The target's and weight's local data, checked before any collective so that every rank (all
// of them see the same replicated values) fails together.
struct LossInputs {
  Tensor target;            // int64, the target's shape
  Tensor position_weights;  // weight[t_p] (1 unweighted), 0 where ignored; the target's shape
};

Tensor replicated_local(const Tensor& t, const DeviceMesh& mesh, const char* what,
                        const char* arg) {
  if (!t.is_distributed()) return t;
  const DTensor d(t);
  if (!(d.device_mesh() == mesh)) {
    throw std::invalid_argument(cat(what, ": ", arg, " lives on ", d.device_mesh().str(),
                                    " but the input on ", mesh.str()));
  }
  for (const Placement& p : d.placements()) {
    if (!p.is_replicate()) {
      throw std::invalid_argument(cat(what, ": loss_parallel() expects a replicated ", arg,
                                      ", got placements ", placements_str(d.placements())));
    }
  }
  return local_of(d);
}

LossInputs loss_inputs(const DTensor& x, const ClassShard& v, std::int64_t cdim,
                       const Tensor& target, const CrossEntropyOptions& options, const char* what) {
  LossInputs in;
  check_arg(target.dtype() == DType::Int64, what, ": target must be int64 class indices, got ",
            dtype_name(target.dtype()));
  in.target = replicated_local(target, x.device_mesh(), what, "target");
  Shape expected = x.shape();
  expected.erase(expected.begin() + cdim);
  check_arg(target.shape() == expected, what, ": target shape ", shape_text(target.shape()),
            " does not match input shape ", shape_text(x.shape()), " (expected ",
            shape_text(expected), ")");
  Tensor weight;
  if (options.weight.defined()) {
    weight = replicated_local(options.weight, x.device_mesh(), what, "weight");
    check_arg(weight.dim() == 1 && weight.size(0) == v.classes, what, ": weight has shape ",
              shape_text(weight.shape()), ", expected [", v.classes, "] (one per class)");
    check_arg(weight.dtype() == x.dtype(), what, ": weight dtype ", dtype_name(weight.dtype()),
              " does not match input dtype ", dtype_name(x.dtype()));
  }
  // Reads every target on the device: "<what>: target 16 is out of range for 16 classes".
  in.position_weights =
      kernels::class_weights(in.target, weight, v.classes, options.ignore_index, x.dtype(), what);
  return in;
}

// log_softmax along the sharded class dim: all_reduce MAX of the local maxima, all_reduce SUM
// of the local sums of exp(x - max), then (x - max) - log(sum) as the single-device kernel.
Tensor sharded_log_softmax(const Tensor& x, const ClassShard& v, Communicator& comm) {
  NoGradGuard no_grad;
  Tensor max_ = v.local > 0 ? max(x, v.dim, /*keepdim=*/true)
                            : full(v.stat_shape(x.shape()),
                                   -std::numeric_limits<double>::infinity(), x.dtype(), x.device());
  comm.all_reduce(max_, {.op = ReduceOp::Max})->wait();
  const Tensor shifted = x - max_;
  Tensor total = sum(exp(shifted), v.dim, /*keepdim=*/true);
  comm.all_reduce(total, {.op = ReduceOp::Sum})->wait();
  return shifted - log(total);
}

struct LossForward {
  Tensor loss;          // the target's shape (none) or 0-d
  Tensor total_weight;  // 0-d, the mean's denominator
};

// nll on sharded log-probabilities: the rank owning a position's target class contributes its
// log-probability, the others 0, and one all_reduce SUM gives every rank all of them. The rest
// runs on replicated values as the single-device nll: -w[t_p] * picked_p, summed, divided by the
// sum of the weights for mean.
LossForward sharded_nll(const Tensor& lp, const LossInputs& in, const ClassShard& v,
                        const CrossEntropyOptions& options, Communicator& comm, const char* what) {
  NoGradGuard no_grad;
  Tensor picked =
      kernels::gather_class(lp, in.target, v.offset, v.classes, options.ignore_index, what);
  comm.all_reduce(picked, {.op = ReduceOp::Sum})->wait();
  const Tensor per = -in.position_weights * picked;
  LossForward r{Tensor(), sum(in.position_weights)};
  if (options.reduction == Reduction::None) {
    r.loss = per;
  } else if (options.reduction == Reduction::Sum) {
    r.loss = sum(per);
  } else {
    r.loss = sum(per) / r.total_weight;  // NaN when every position is ignored, as torch gives
  }
  return r;
}

DTensor replicated_output(Tensor local, const DeviceMesh& mesh) {
  Shape shape = local.shape();
  const DType dtype = local.dtype();
  return DTensor(std::move(local), std::make_shared<const DTensorSpec>(DTensorSpec{
                                       mesh, Placements(1, Replicate()), std::move(shape), dtype}));
}

// Brings a gradient to `placements` (normally it already is) and returns its local tensor.
Tensor local_grad(const Tensor& grad, const Placements& placements, DType dtype,
                  const std::string& what) {
  DTensor g(grad);
  check_state(g.dtype() == dtype, what, ": gradient dtype ", dtype_name(g.dtype()),
              " does not match the output dtype ", dtype_name(dtype));
  if (!(g.placements() == placements)) g = redistribute_internal(g, placements);
  return local_of(g);
}

// Backward of the sharded log_softmax, the true one for any incoming gradient:
// dx = grad - softmax * sum_classes(grad), the class sum a local sum plus one all_reduce SUM.
class LogSoftmaxBackward final : public Node {
 public:
  LogSoftmaxBackward(Tensor log_probs, ClassShard v, std::int64_t dim,
                     std::shared_ptr<const DTensorSpec> spec)
      : log_probs_(std::move(log_probs)), v_(v), dim_(dim), spec_(std::move(spec)) {}
  std::string name() const override { return "LossParallelLogSoftmaxBackward"; }
  std::int64_t dim() const { return dim_; }
  const std::shared_ptr<const DTensorSpec>& input_spec() const { return spec_; }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    if (!grads.at(0).defined()) return {Tensor()};
    check_state(log_probs_.defined(), name(),
                ": saved tensors were released; pass retain_graph to backward twice");
    NoGradGuard no_grad;
    const Tensor g = local_grad(grads[0], spec_->placements, spec_->dtype, name());
    Tensor total = sum(g, v_.dim, /*keepdim=*/true);
    spec_->mesh.group(0).all_reduce(total, {.op = ReduceOp::Sum})->wait();
    Tensor dx = g - exp(log_probs_) * total;
    return {DTensor(std::move(dx), spec_)};
  }
  void release_saved() override { log_probs_ = Tensor(); }

 private:
  Tensor log_probs_;
  ClassShard v_;
  std::int64_t dim_;
  std::shared_ptr<const DTensorSpec> spec_;
};

// Backward of the sharded nll_loss. With a = weight[t] * g per position (g = grad[p] for none,
// grad for sum, grad / total_weight for mean; a = 0 where ignored):
//   fused (the input was log_softmax(logits); the gradient goes to the logits):
//     dx = exp(log_probs) * a, minus a at the target class;
//   otherwise (the gradient of nll_loss alone): -a at the target class, 0 elsewhere.
// Only the rank owning the target class subtracts; nothing is communicated.
class NllBackward final : public Node {
 public:
  NllBackward(bool fused, Tensor log_probs, LossInputs in, Tensor total_weight, ClassShard v,
              const CrossEntropyOptions& options, std::shared_ptr<const DTensorSpec> input_spec,
              std::shared_ptr<const DTensorSpec> output_spec)
      : fused_(fused),
        log_probs_(std::move(log_probs)),
        in_(std::move(in)),
        total_weight_(std::move(total_weight)),
        v_(v),
        ignore_index_(options.ignore_index),
        reduction_(options.reduction),
        input_spec_(std::move(input_spec)),
        output_spec_(std::move(output_spec)) {}
  std::string name() const override {
    return fused_ ? "LossParallelCrossEntropyBackward" : "LossParallelNllLossBackward";
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    if (!grads.at(0).defined()) return {Tensor()};
    check_state(log_probs_.defined(), name(),
                ": saved tensors were released; pass retain_graph to backward twice");
    NoGradGuard no_grad;
    const Tensor g = local_grad(grads[0], output_spec_->placements, output_spec_->dtype, name());
    // a_p = w[t_p] * g_p, with g_p = grad[p] (none), grad (sum) or grad / total_weight (mean).
    const Tensor up = reduction_ == Reduction::None ? g
                      : reduction_ == Reduction::Sum ? reshape(g, {})
                                                     : reshape(g, {}) / total_weight_;
    const Tensor a = in_.position_weights * up;
    Tensor dx = fused_ ? exp(log_probs_) * reshape(a, v_.stat_shape(log_probs_.shape()))
                       : zeros(log_probs_.shape(), log_probs_.dtype(), log_probs_.device());
    kernels::scatter_class_add_(dx, in_.target, -a, v_.offset, ignore_index_);
    return {DTensor(std::move(dx), input_spec_)};
  }
  void release_saved() override {
    log_probs_ = Tensor();
    in_ = LossInputs{};
    total_weight_ = Tensor();
  }

 private:
  bool fused_;
  Tensor log_probs_;  // local; only its shape is read when not fused
  LossInputs in_;
  Tensor total_weight_;
  ClassShard v_;
  std::int64_t ignore_index_;
  Reduction reduction_;
  std::shared_ptr<const DTensorSpec> input_spec_;
  std::shared_ptr<const DTensorSpec> output_spec_;
};

class Handlers final : public LossParallelHandlers {
 public:
  Tensor log_softmax(const Tensor& input, std::int64_t dim) const override {
    const DTensor x(input);
    const ClassShard v = class_shard(x, dim, "log_softmax");
    Communicator& comm = x.device_mesh().group(0);
    Tensor lp = sharded_log_softmax(local_of(x), v, comm);
    DTensor out(lp, x.spec_ptr());
    if (any_requires_grad({x})) {
      auto node = std::make_shared<LogSoftmaxBackward>(std::move(lp), v, dim, x.spec_ptr());
      collect_next_edges(*node, {x});
      set_history(out, node);
    }
    return out;
  }

  // When log_probs came straight from the sharded log_softmax, the node skips it: its edge is
  // the logits' edge and it returns the fused gradient, so that log_softmax node runs only if
  // its output has other uses (and then only with their gradient).
  Tensor nll_loss(const Tensor& input, const Tensor& target,
                  const CrossEntropyOptions& options) const override {
    const DTensor lp(input);
    const std::int64_t cdim = class_dim(lp, "nll_loss");
    const ClassShard v = class_shard(lp, cdim, "nll_loss");
    LossInputs in = loss_inputs(lp, v, cdim, target, options, "nll_loss");
    const Tensor& lp_local = local_of(lp);
    const LossForward f =
        sharded_nll(lp_local, in, v, options, lp.device_mesh().group(0), "nll_loss");
    DTensor out = replicated_output(f.loss, lp.device_mesh());
    if (any_requires_grad({lp})) {
      auto source = std::dynamic_pointer_cast<LogSoftmaxBackward>(lp.grad_fn());
      const bool fused = source && source->dim() == cdim && !source->next_edges.empty();
      auto node = std::make_shared<NllBackward>(
          fused, lp_local, std::move(in), f.total_weight, v, options,
          fused ? source->input_spec() : lp.spec_ptr(), out.spec_ptr());
      node->next_edges = {fused ? source->next_edges[0] : gradient_edge(lp)};
      set_history(out, node);
    }
    return out;
  }

  Tensor cross_entropy(const Tensor& input, const Tensor& target,
                       const CrossEntropyOptions& options) const override {
    const DTensor x(input);
    const std::int64_t cdim = class_dim(x, "cross_entropy");
    const ClassShard v = class_shard(x, cdim, "cross_entropy");
    LossInputs in = loss_inputs(x, v, cdim, target, options, "cross_entropy");
    Communicator& comm = x.device_mesh().group(0);
    Tensor lp = sharded_log_softmax(local_of(x), v, comm);
    const LossForward f = sharded_nll(lp, in, v, options, comm, "cross_entropy");
    DTensor out = replicated_output(f.loss, x.device_mesh());
    if (any_requires_grad({x})) {
      auto node = std::make_shared<NllBackward>(true, std::move(lp), std::move(in), f.total_weight,
                                                v, options, x.spec_ptr(), out.spec_ptr());
      node->next_edges = {gradient_edge(x)};
      set_history(out, node);
    }
    return out;
  }
};

const Handlers& handlers() {
  static const Handlers instance;
  return instance;
}

}  // namespace

LossParallel::LossParallel() : previous_(set_loss_parallel_handlers(&handlers())) {}

LossParallel::~LossParallel() { set_loss_parallel_handlers(previous_); }

LossParallel loss_parallel() { return LossParallel(); }

bool loss_parallel_enabled() { return active_loss_parallel_handlers() == &handlers(); }

}  // namespace tensorpar
