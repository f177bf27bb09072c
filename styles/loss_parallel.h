#pragma once
// loss_parallel: cross-entropy on logits sharded along the class dim, without gathering them
// (PyTorch's torch.distributed.tensor.parallel.loss_parallel).
//
//   DeviceMesh mesh({4});
//   DTensor logits = distribute_tensor(x, mesh, {Shard(1)});   // (N, C) split by class
//   logits.requires_grad_();
//   {
//     auto scope = loss_parallel();
//     Tensor loss = cross_entropy(logits, target, {.weight = w});  // 3 all_reduces, Replicate
//     loss.backward();                                             // no collectives
//   }
//   DTensor(logits.grad()).placements();                           // [S(1)]
//
// While the scope lives on this thread, cross_entropy, log_softmax and nll_loss on a DTensor
// input take the class-sharded path:
//   * the input must live on a 1-D mesh and be sharded on the class dim (dim 1, or dim 0 for a
//     1-D input; log_softmax: its `dim`), else std::invalid_argument naming loss_parallel();
//   * target: a plain int64 tensor (read as Replicate) or a Replicate DTensor; weight: a plain
//     [C] tensor or a Replicate DTensor; ignore_index and the none/mean/sum reductions as in
//     the single-device ops;
//   * forward: all_reduce MAX of the row maxima, all_reduce SUM of the exponentials (these two
//     are log_softmax), all_reduce SUM of the target log-probability that only the rank owning
//     the target class contributes: 3 all_reduces; the result is a Replicate DTensor (per
//     position for reduction none);
//   * backward: the loss and its log_softmax are differentiated as one op, (softmax - onehot)
//     * weight[target] * grad, computed locally: no collectives; the logits' gradient is
//     sharded like the logits.
// log_softmax on its own keeps its true gradient, grad - softmax * sum_classes(grad), which
// costs one all_reduce in backward; when its output feeds only nll_loss that node never runs
// (nll_loss sends the fused gradient straight to the logits), so log_softmax + nll_loss costs
// exactly what cross_entropy costs. PyTorch's handlers instead return the incoming gradient
// unchanged from log_softmax, which is wrong for every other use (pytorch/pytorch#190746).
//
// Plain tensors are unaffected. backward() may run inside or outside the scope. Scopes nest and
// restore the previous state when they end, also when an exception leaves them.
namespace tensorpar {

class LossParallelHandlers;

class [[nodiscard]] LossParallel {
 public:
  LossParallel();
  ~LossParallel();
  LossParallel(const LossParallel&) = delete;
  LossParallel& operator=(const LossParallel&) = delete;
  LossParallel(LossParallel&&) = delete;
  LossParallel& operator=(LossParallel&&) = delete;

 private:
  const LossParallelHandlers* previous_;
};

// Enters loss_parallel on this thread until the returned scope is destroyed.
[[nodiscard]] LossParallel loss_parallel();

// Whether a loss_parallel scope is active on this thread.
bool loss_parallel_enabled();

}  // namespace tensorpar
