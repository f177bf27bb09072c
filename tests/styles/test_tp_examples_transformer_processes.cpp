// test_tp_examples_transformer's training tests as a job of gloo processes under
// `tensorpar run` (tests/support/process_testing.h): the same bodies (tp_examples_transformer.h)
// with the same single-device comparisons and the same exact collective counts per phase as on
// the simulated backend, at world sizes 2, 3 and 4, with and without sequence parallel, and
// with dropout.
#include <gtest/gtest.h>

#include "support/process_testing.h"
#include "tp_examples_transformer.h"

namespace tensorpar {
namespace {

using tp_examples::describe;
using tp_examples::DropoutCase;
using tp_examples::TransformerCase;

class TpExamplesTransformerGloo : public ::testing::TestWithParam<TransformerCase> {};

TEST_P(TpExamplesTransformerGloo, TrainingMatchesSingleDeviceWithExactCounts) {
  const TransformerCase c = GetParam();
  process_testing::run_on_gloo(c.world, [&] { tp_examples::train_against_single_device(c); });
}

INSTANTIATE_TEST_SUITE_P(TpExamples, TpExamplesTransformerGloo,
                         ::testing::ValuesIn(tp_examples::all_cases()),
                         [](const auto& info) { return describe(info.param); });

class TpExamplesTransformerDropoutGloo : public ::testing::TestWithParam<DropoutCase> {};

TEST_P(TpExamplesTransformerDropoutGloo, ShardedDropoutEqualsSingleDevice) {
  const DropoutCase c = GetParam();
  process_testing::run_on_gloo(c.world, [&] { tp_examples::dropout_against_single_device(c); });
}

INSTANTIATE_TEST_SUITE_P(TpExamples, TpExamplesTransformerDropoutGloo,
                         ::testing::Values(DropoutCase{2, false}, DropoutCase{3, false},
                                           DropoutCase{4, false}, DropoutCase{2, true},
                                           DropoutCase{3, true}, DropoutCase{4, true}),
                         [](const auto& info) {
                           return cat("W", info.param.world,
                                      info.param.sequence_parallel ? "_SP" : "");
                         });

}  // namespace
}  // namespace tensorpar
