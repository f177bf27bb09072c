#include "tools/calibrate/op_overhead.h"

#include "core/comm/rank_context.h"
#include "core/dtensor/device_mesh.h"
#include "core/nn/transformer.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/tensor/philox.h"
#include "sim/world.h"
#include "styles/transformer_plan.h"
#include "tools/calibrate/stopwatch.h"
#include "tools/shape_only/transformer_step.h"

namespace tensorpar::calibrate {
namespace {

ShapeOnlyStepConfig tiny_step() {
  ShapeOnlyStepConfig c;
  c.world = 1;
  c.batch = 1;
  c.seq = 4;
  c.model = {.n_layers = 2,
             .vocab_size = 8,
             .max_seq_len = 4,
             .dim = 8,
             .n_heads = 2,
             .dropout_p = 0,
             .weight_tying = true,
             .seed = 0};
  return c;
}

}  // namespace

OpOverhead measure_op_overhead(bool quick) {
  const ShapeOnlyStepConfig c = tiny_step();
  OpOverhead result;
  result.kernels = static_cast<int>(shape_only_step(c)[0].ops->size());
  // The step of transformer_tp_step (the shape-only run's) with the model built once.
  sim::run(1, [&] {
    manual_seed(c.model.seed);
    nn::Transformer model(c.model);
    parallelize_transformer(model, DeviceMesh({1}, {"tp"}), {});
    optim::Adam opt(model.parameters(), optim::AdamOptions{.lr = 1e-3});
    const Tensor tokens = zeros({c.batch, c.seq}, DType::Int64);
    const Tensor targets = zeros({c.batch * c.seq}, DType::Int64);
    result.step_seconds = lower_quartile_seconds(quick ? 15 : 61, [&] {
      Tensor logits = reshape(model(tokens), {c.batch * c.seq, c.model.vocab_size});
      cross_entropy(logits, targets).backward();
      opt.step();
      opt.zero_grad();
    });
  });
  result.seconds_per_kernel = result.step_seconds / result.kernels;
  return result;
}

}  // namespace tensorpar::calibrate
