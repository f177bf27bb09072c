// SGD, Adam and AdamW: updates against PyTorch's formulas in f64, state, skipping, errors, and
// DTensor parameters whose Partial gradients are reduced once per step.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/autograd/autograd.h"
#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/optim/sgd.h"
#include "sim/world.h"
#include "support/expect_error.h"

namespace tensorpar::optim {
namespace {

using testing::expect_error;
using Steps = std::vector<std::vector<double>>;

// Three steps from p0 = [1, -2, 0.5] with these gradients. The expected values below were
// computed with scalar code following torch.optim's update formulas (the first steps by hand:
// e.g. SGD lr 0.1: 1 - 0.1 * 0.5 = 0.95; Adam's first step moves every element by lr * sign(g)
// up to eps: 1 - 0.1 = 0.9).
const Steps kGrads = {{0.5, -1.0, 2.0}, {0.1, 0.2, -0.3}, {-0.4, 0.0, 1.0}};

Tensor make_param() { return from_vector<double>({1.0, -2.0, 0.5}, {3}).requires_grad_(true); }

template <class Opt>
void expect_trajectory(Opt& opt, Tensor& p, const Steps& expected) {
  for (std::size_t t = 0; t < kGrads.size(); ++t) {
    p.set_grad(from_vector<double>(kGrads[t], {3}));
    opt.step();
    const std::vector<double> got = to_vector<double>(p);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(got[i], expected[t][i], 1e-12) << "step " << t + 1 << " element " << i;
    }
  }
}

TEST(OptimSgd, PlainStepIsLrTimesGradient) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1});
  expect_trajectory(opt, p, {{0.95, -1.9, 0.3}, {0.94, -1.92, 0.33}, {0.98, -1.92, 0.23}});
}

TEST(OptimSgd, MomentumWithDampening) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1});
  // Step 1 buffer = g (no dampening on the first step); step 2: 0.9 * 0.5 + 0.9 * 0.1 = 0.54.
  expect_trajectory(opt, p,
                    {{0.95, -1.9, 0.3}, {0.896, -1.828, 0.147}, {0.8834, -1.7632, -0.0807}});
  // Element 1's buffer: -1, then 0.9 * -1 + 0.9 * 0.2 = -0.72, then 0.9 * -0.72 + 0 = -0.648.
  EXPECT_NEAR(to_vector<double>(opt.momentum_buffer(0))[1], -0.648, 1e-15);
}

TEST(OptimSgd, Nesterov) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  // Step 1: buf = g, update g + 0.9 g = 1.9 g: 1 - 0.19 * 0.5 = 0.905.
  expect_trajectory(opt, p,
                    {{0.905, -1.81, 0.12}, {0.8455, -1.767, 0.015}, {0.87695, -1.7103, -0.2965}});
}

TEST(OptimSgd, WeightDecayAddsToTheGradient) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1, .momentum = 0.5, .weight_decay = 0.01});
  // Step 1: 1 - 0.1 * (0.5 + 0.01 * 1) = 0.949.
  expect_trajectory(opt, p,
                    {{0.949, -1.898, 0.2995},
                     {0.912551, -1.865102, 0.2289505},
                     {0.933413949, -1.846787898, 0.0934467995}});
}

TEST(OptimSgd, ParametersWithoutGradientAreSkipped) {
  Tensor p = make_param();
  Tensor q = make_param();
  SGD opt({p, q}, {.lr = 0.1, .momentum = 0.9});
  p.set_grad(from_vector<double>({1, 1, 1}, {3}));
  opt.step();
  EXPECT_EQ(to_vector<double>(q), (std::vector<double>{1.0, -2.0, 0.5}));
  EXPECT_FALSE(opt.momentum_buffer(1).defined());
  EXPECT_NEAR(to_vector<double>(p)[0], 0.9, 1e-15);
}

TEST(OptimSgd, ZeroGradClearsGradients) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1});
  p.set_grad(from_vector<double>({1, 1, 1}, {3}));
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
}

TEST(OptimSgd, FloatParametersUpdateToo) {
  Tensor p = from_vector<float>({1.0f, 2.0f}, {2}).requires_grad_(true);
  SGD opt({p}, {.lr = 0.5});
  p.set_grad(from_vector<float>({2.0f, -2.0f}, {2}));
  opt.step();
  EXPECT_EQ(to_vector<float>(p), (std::vector<float>{0.0f, 3.0f}));
}

TEST(OptimSgd, BadOptionsAndParametersAreRejected) {
  expect_error<std::invalid_argument>([] { SGD({make_param()}, {.lr = -1}); },
                                      "SGD: invalid lr -1");
  expect_error<std::invalid_argument>([] { SGD({make_param()}, {.lr = 0.1, .momentum = -0.5}); },
                                      "SGD: invalid momentum -0.5");
  expect_error<std::invalid_argument>([] { SGD({make_param()}, {.lr = 0.1, .weight_decay = -1}); },
                                      "invalid weight_decay -1");
  expect_error<std::invalid_argument>([] { SGD({make_param()}, {.lr = 0.1, .nesterov = true}); },
                                      "nesterov momentum requires momentum > 0");
  Tensor p = make_param();
  expect_error<std::invalid_argument>(
      [&] {
        SGD({p, p}, {.lr = 0.1});
      },
      "parameter 1 appears more than once");
  expect_error<std::invalid_argument>([&] { SGD({mul(p, 2.0)}, {.lr = 0.1}); },
                                      "parameter 0 is not a leaf tensor");
  expect_error<std::invalid_argument>([] { SGD({Tensor()}, {.lr = 0.1}); },
                                      "parameter 0 is undefined");
}

TEST(OptimSgd, StepIsNotRecordedByAutograd) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1});
  p.set_grad(from_vector<double>({1, 1, 1}, {3}));
  opt.step();
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
}

TEST(OptimAdam, MatchesTorchFormulas) {
  Tensor p = make_param();
  Adam opt({p}, {.lr = 0.1});
  expect_trajectory(opt, p,
                    {{0.900000002, -1.900000001, 0.4000000005},
                     {0.8196959063846517, -1.8488973939904945, 0.3447801952059978},
                     {0.8103259663582116, -1.8093949307841701, 0.2781872295336901}});
  const AdamState& st = opt.state(0);
  EXPECT_EQ(st.step, 3);
  // m after three steps: 0.9 * (0.9 * 0.05 + 0.01) + 0.1 * (-0.4) = 0.0095
  EXPECT_NEAR(to_vector<double>(st.exp_avg)[0], 0.0095, 1e-15);
  EXPECT_FALSE(st.max_exp_avg_sq.defined());
}

TEST(OptimAdam, L2WeightDecayGoesIntoTheGradient) {
  Tensor p = make_param();
  Adam opt({p}, {.lr = 0.1, .weight_decay = 0.1});
  expect_trajectory(opt, p,
                    {{0.9000000016666666, -1.9000000008333333, 0.4000000004878049},
                     {0.8136483454297575, -1.8336169077420748, 0.34289464339168174},
                     {0.7829837790790071, -1.7732341874523856, 0.27481323477938835}});
}

TEST(OptimAdam, AdamWDecaysDecoupled) {
  Tensor p = make_param();
  AdamW opt({p}, {.lr = 0.1, .weight_decay = 0.1});
  // Step 1: 1 * (1 - 0.01) - 0.1 = 0.89.
  expect_trajectory(opt, p,
                    {{0.890000002, -1.880000001, 0.3950000005},
                     {0.8007959063646517, -1.8100973939804945, 0.33583019520099777},
                     {0.7834180072745651, -1.7524939568343652, 0.2658789275766801}});
}

TEST(OptimAdam, AdamWDefaultWeightDecayIsOneHundredth) {
  Tensor p = make_param();
  AdamW opt({p}, {});
  EXPECT_EQ(opt.options().weight_decay, 1e-2);
  EXPECT_EQ(opt.options().lr, 1e-3);
}

TEST(OptimAdam, AmsgradKeepsTheMaximumSecondMoment) {
  Tensor p = make_param();
  Adam opt({p}, {.lr = 0.1, .amsgrad = true});
  // Same as Adam until element 1's second moment shrinks (its gradient is 0 at step 3).
  expect_trajectory(opt, p,
                    {{0.900000002, -1.900000001, 0.4000000005},
                     {0.8196959063846517, -1.8488973939904945, 0.3447801952059978},
                     {0.8103259663582116, -1.8094146869557162, 0.2781872295336901}});
}

TEST(OptimAdam, StateIsCreatedOnTheFirstGradient) {
  Tensor p = make_param();
  Tensor q = make_param();
  Adam opt({p, q}, {.lr = 0.1});
  p.set_grad(from_vector<double>({1, 1, 1}, {3}));
  opt.step();
  EXPECT_EQ(opt.state(0).step, 1);
  EXPECT_EQ(opt.state(1).step, 0);
  EXPECT_FALSE(opt.state(1).exp_avg.defined());
  EXPECT_EQ(to_vector<double>(q), (std::vector<double>{1.0, -2.0, 0.5}));
}

TEST(OptimAdam, BadOptionsNameTheOptionAndValue) {
  expect_error<std::invalid_argument>([] { Adam({make_param()}, {.lr = -0.1}); },
                                      "Adam: invalid lr -0.1");
  expect_error<std::invalid_argument>([] { Adam({make_param()}, {.beta1 = 1.5}); },
                                      "Adam: invalid beta1 1.5 (must be in [0, 1))");
  expect_error<std::invalid_argument>([] { Adam({make_param()}, {.beta2 = 1.0}); },
                                      "Adam: invalid beta2 1");
  expect_error<std::invalid_argument>([] { Adam({make_param()}, {.eps = -1e-8}); },
                                      "Adam: invalid eps -1e-08");
  expect_error<std::invalid_argument>([] { AdamW({make_param()}, {.weight_decay = -1}); },
                                      "AdamW: invalid weight_decay -1");
}

TEST(OptimAdam, GradientDtypeMismatchIsAnError) {
  Tensor p = make_param();
  Adam opt({p}, {});
  // set_grad checks shapes itself; a dtype mismatch reaches the optimizer.
  p.set_grad(from_vector<float>({1, 1, 1}, {3}));
  expect_error<std::invalid_argument>([&] { opt.step(); }, "does not match the parameter");
}

// A replicated parameter with a Partial gradient (as SequenceParallel's norm weights get): the
// step reduces the gradient with exactly one all_reduce, and every rank applies the update of
// the summed gradient.
TEST(OptimAdam, PartialGradientIsReducedOncePerStep) {
  const auto results = sim::run(4, [](int rank) {
    DeviceMesh mesh({4});
    Tensor p = DTensor::from_local(from_vector<double>({1.0, -2.0, 0.5}, {3}), mesh, {Replicate()});
    p.requires_grad_(true);
    // Local gradient contributions 0.25 * g on every rank: the sum is g.
    Tensor local = from_vector<double>({0.125, -0.25, 0.5}, {3});
    p.set_grad(DTensor::from_local(local, mesh, {Partial()}));
    Adam opt({p}, {.lr = 0.1});
    CommDebugMode comm;
    opt.step();
    EXPECT_EQ(comm.count(CollectiveKind::AllReduce), 1);
    EXPECT_EQ(comm.total_count(), 1);
    // The gradient itself is left as it was (still Partial).
    EXPECT_EQ(DTensor(p.grad()).placements(), (Placements{Partial()}));
    NoGradGuard no_grad;
    return to_vector<double>(DTensor(p).to_local());
  });
  for (const auto& r : results) {
    EXPECT_NEAR(r[0], 0.900000002, 1e-12);
    EXPECT_NEAR(r[1], -1.900000001, 1e-12);
    EXPECT_NEAR(r[2], 0.4000000005, 1e-12);
  }
}

// A sharded parameter is updated on its shard; the state has the local shape.
TEST(OptimSgd, ShardedParameterUpdatesItsLocalShard) {
  const auto results = sim::run(3, [](int rank) {
    DeviceMesh mesh({3});
    Tensor full_p = from_vector<double>({1, 2, 3, 4, 5}, {5});
    Tensor p = distribute_tensor(full_p, mesh, {Shard(0)});
    p.requires_grad_(true);
    p.set_grad(distribute_tensor(ones({5}, DType::Float64), mesh, {Shard(0)}));
    SGD opt({p}, {.lr = 0.5, .momentum = 0.9});
    CommDebugMode comm;
    opt.step();
    EXPECT_EQ(comm.total_count(), 0);
    EXPECT_EQ(opt.momentum_buffer(0).shape(), DTensor(p).to_local().shape());
    return DTensor(p).full_tensor();
  });
  for (const auto& r : results) {
    EXPECT_EQ(to_vector<double>(r), (std::vector<double>{0.5, 1.5, 2.5, 3.5, 4.5}));
  }
}

}  // namespace
}  // namespace tensorpar::optim
