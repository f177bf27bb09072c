// compare_with_cpu (sim/op_check.h): a device's run of an op case against the CPU's, forward value
// and input gradients, bitwise for the cases that only move data, else within a tolerance relative
// to the CPU's values. The stand-in device runs the CPU's kernels, so every standard case matches
// bit for bit there; cases whose function behaves differently on a device show the check fails.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/op_check.h"
#include "sim/standin_device.h"

namespace tensorpar {
namespace {

using sim::CpuMatch;
using sim::standin_device;
using ::testing::HasSubstr;

class OpCheckVsCpu : public ::testing::Test {
 protected:
  void SetUp() override { sim::register_standin_device(); }
};

bool on_host(const Tensor& t) { return t.device() == cpu(); }

// An op whose value is y = 2x on the CPU and, on any other device, `off_device(x)`.
sim::OpCase differs_by_device(std::function<Tensor(const Tensor&)> off_device, CpuMatch rule) {
  return {"differs_by_device",
          [off_device](const std::vector<Tensor>& x) {
            return on_host(x[0]) ? x[0] * 2.0 : off_device(x[0]);
          },
          {{from_vector<double>({0.1, -0.2, 0.3}, {3}), true}},
          rule};
}

// The last bit of most values: 1 + 2^-50 is a double, x * (1 + 2^-50) rounds to a neighbour of x.
constexpr double kLastBit = 1.0 + 0x1p-50;

TEST_F(OpCheckVsCpu, EveryStandardCaseMatchesTheCpuBitForBitOnTheStandIn) {
  for (const sim::OpCase& op : sim::standard_op_cases()) {
    const sim::DeviceComparison r = sim::compare_with_cpu(op, standin_device());
    EXPECT_TRUE(r.ok) << op.name << ": " << r.message;
    EXPECT_EQ(r.max_rel_err, 0.0) << op.name;  // the stand-in runs the CPU's kernels
    EXPECT_EQ(r.message, "") << op.name;
  }
}

TEST_F(OpCheckVsCpu, DataMovementCasesAreHeldToBitwiseEquality) {
  std::map<std::string, CpuMatch> rule;
  for (const sim::OpCase& op : sim::standard_op_cases()) rule[op.name] = op.vs_cpu;
  for (const char* name : {"cat", "cat_last_dim", "permute", "reshape_transpose"}) {
    EXPECT_EQ(rule.at(name), CpuMatch::Exact) << name;
  }
  EXPECT_EQ(rule.at("embedding"), CpuMatch::ExactForward);  // its backward is a scatter-add
  for (const char* name : {"add", "linear", "softmax", "layer_norm", "cross_entropy", "dropout"}) {
    EXPECT_EQ(rule.at(name), CpuMatch::Close) << name;
  }
}

// y = 2x + 1e-9 on the device: the forward is 1e-9 off (relative to max(1, 0.6) = 1), a thousand
// times the tolerance; the gradients agree.
TEST_F(OpCheckVsCpu, AForwardOffByMoreThanTheToleranceFails) {
  const auto op =
      differs_by_device([](const Tensor& x) { return x * 2.0 + 1e-9; }, CpuMatch::Close);
  const sim::DeviceComparison r = sim::compare_with_cpu(op, standin_device());
  EXPECT_FALSE(r.ok);
  EXPECT_NEAR(r.max_rel_err, 1e-9, 1e-15);
  EXPECT_THAT(r.message, HasSubstr("forward differs from the cpu by"));
  EXPECT_THAT(r.message, HasSubstr("tolerance 1e-12"));
  // The same difference under a looser tolerance passes.
  EXPECT_TRUE(sim::compare_with_cpu(op, standin_device(), 1e-8).ok);
}

// y = 2x + (1e-6 x² - 1e-6 x²) on the device: the forward adds exactly 0, but the gradient gains
// 2e-6 x w, so only the gradient comparison can fail.
TEST_F(OpCheckVsCpu, AGradientOffByMoreThanTheToleranceFails) {
  const auto op = differs_by_device(
      [](const Tensor& x) { return x * 2.0 + (x * x * 1e-6 - (x * x * 1e-6).detach()); },
      CpuMatch::Close);
  const sim::DeviceComparison r = sim::compare_with_cpu(op, standin_device());
  EXPECT_FALSE(r.ok);
  EXPECT_GT(r.max_rel_err, 1e-8);
  EXPECT_THAT(r.message, HasSubstr("gradient of input 0 differs from the cpu by"));
}

// A last-bit difference is within the arithmetic tolerance but breaks a data-movement case.
TEST_F(OpCheckVsCpu, ALastBitDifferenceFailsOnlyWhereBitwiseEqualityIsRequired) {
  // forward and gradient one bit off
  auto both = [](const Tensor& x) { return x * (2.0 * kLastBit); };
  // forward exact (it adds 0), gradient one bit off
  auto gradient_only = [](const Tensor& x) {
    return x * 2.0 + (x * (2.0 * (kLastBit - 1.0)) - (x * (2.0 * (kLastBit - 1.0))).detach());
  };
  const sim::DeviceComparison close = sim::compare_with_cpu(
      differs_by_device(both, CpuMatch::Close), standin_device());
  EXPECT_TRUE(close.ok) << close.message;
  EXPECT_GT(close.max_rel_err, 0.0);
  EXPECT_LT(close.max_rel_err, 1e-14);

  const sim::DeviceComparison forward = sim::compare_with_cpu(
      differs_by_device(both, CpuMatch::ExactForward), standin_device());
  EXPECT_FALSE(forward.ok);
  EXPECT_THAT(forward.message, HasSubstr("forward differs from the cpu in its bits"));

  const sim::DeviceComparison backward_close = sim::compare_with_cpu(
      differs_by_device(gradient_only, CpuMatch::ExactForward), standin_device());
  EXPECT_TRUE(backward_close.ok) << backward_close.message;
  EXPECT_GT(backward_close.max_rel_err, 0.0);

  const sim::DeviceComparison exact = sim::compare_with_cpu(
      differs_by_device(gradient_only, CpuMatch::Exact), standin_device());
  EXPECT_FALSE(exact.ok);
  EXPECT_THAT(exact.message, HasSubstr("gradient of input 0 differs from the cpu in its bits"));
}

TEST_F(OpCheckVsCpu, ACaseThatThrowsOnTheDeviceFailsWithItsMessage) {
  const auto op = differs_by_device(
      [](const Tensor&) -> Tensor { throw std::runtime_error("no kernel for this op"); },
      CpuMatch::Close);
  const sim::DeviceComparison r = sim::compare_with_cpu(op, standin_device());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(std::isnan(r.max_rel_err));
  EXPECT_EQ(r.message, "on standin:0: no kernel for this op");
}

TEST_F(OpCheckVsCpu, AnOutputOfAnotherShapeFails) {
  const auto op =
      differs_by_device([](const Tensor& x) { return cat({x, x}, 0); }, CpuMatch::Close);
  const sim::DeviceComparison r = sim::compare_with_cpu(op, standin_device());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(std::isnan(r.max_rel_err));
  EXPECT_THAT(r.message, HasSubstr("forward is [6] float64 on the device, [3] float64 on the cpu"));
}

}  // namespace
}  // namespace tensorpar
