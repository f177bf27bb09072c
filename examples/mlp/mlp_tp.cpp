// A user's own model trained with tensor parallelism on gloo processes, built against the
// installed package (find_package(tensorpar CONFIG)):
//
//   tensorpar run --nproc-per-node 2 -- ./mlp_tp [--steps 5]
//
// The two-layer feed-forward block below is this program's own nn::Module. parallelize_module
// splits its first layer by columns and its second by rows (Megatron's MLP: one all_reduce
// forward, one backward); a few SGD steps follow on a fixed regression batch. Rank 0 trains the
// same model on one device alongside and prints both losses; the exit code is 1 when they differ.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/comm/comm_debug_mode.h"
#include "core/comm/process_world.h"
#include "core/dtensor/device_mesh.h"
#include "core/nn/layers.h"
#include "core/ops/ops.h"
#include "core/optim/sgd.h"
#include "gloo/gloo_backend.h"
#include "styles/parallel.h"

using namespace tensorpar;

class FeedForward : public nn::Module {
 public:
  FeedForward(std::int64_t dim, std::int64_t hidden, Generator& gen) {
    up = register_module("up", std::make_shared<nn::Linear>(dim, hidden, true, gen));
    down = register_module("down", std::make_shared<nn::Linear>(hidden, dim, true, gen));
  }
  std::string type_name() const override { return "FeedForward"; }
  std::vector<Tensor> forward(const nn::ModuleInputs& inputs) override {
    return {(*down)(gelu((*up)(inputs.args.at(0))))};
  }

  std::shared_ptr<nn::Linear> up, down;
};

// Mean squared error of the model on the batch.
Tensor loss_of(FeedForward& model, const Tensor& x, const Tensor& target) {
  const Tensor diff = model(x) - target;
  return mean(diff * diff);
}

int main(int argc, char** argv) {
  const int steps = argc > 2 && std::string(argv[1]) == "--steps" ? std::atoi(argv[2]) : 5;
  try {
    gloo::register_gloo_backend();
    ProcessWorld job("gloo");  // RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT from the launcher
    const int rank = job.env().rank, world = job.env().world_size;
    DeviceMesh mesh({world}, {"tp"});

    // Every rank builds the same model from the same seed; parallelizing keeps each rank's part.
    Generator init(0), single_init(0), data(1);
    const std::int64_t dim = 8, hidden = 16 * world;
    FeedForward model(dim, hidden, init), single(dim, hidden, single_init);
    parallelize_module(model, mesh, {{"up", ColwiseParallel()}, {"down", RowwiseParallel()}});
    optim::SGD opt(model.parameters(), {.lr = 0.1});
    optim::SGD single_opt(single.parameters(), {.lr = 0.1});

    const Tensor x = randn({4, dim}, data), target = randn({4, dim}, data);
    bool same = true;
    for (int step = 1; step <= steps; ++step) {
      CommDebugMode comm;
      Tensor loss = loss_of(model, x, target);
      loss.backward();
      opt.step();
      opt.zero_grad();
      auto forward = comm.counts_by_name(CommPhase::Forward);
      auto backward = comm.counts_by_name(CommPhase::Backward);
      Tensor ref = loss_of(single, x, target);
      ref.backward();
      single_opt.step();
      single_opt.zero_grad();
      same = same && std::abs(loss.item() - ref.item()) <= 1e-4 * std::max(1.0, ref.item());
      if (rank == 0) {
        std::printf("step %d  loss %.6f  single-device %.6f  all_reduce: %lld forward, %lld "
                    "backward\n",
                    step, loss.item(), ref.item(), static_cast<long long>(forward["all_reduce"]),
                    static_cast<long long>(backward["all_reduce"]));
      }
    }
    if (rank == 0) {
      std::printf("mlp_tp: %d SGD steps on %d gloo processes: %s\n", steps, world,
                  same ? "matches the single-device run" : "DIFFERS from the single-device run");
    }
    return same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlp_tp: %s\n", e.what());
    return 1;
  }
}
