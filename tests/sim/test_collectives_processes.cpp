// test_collectives' bodies (collectives_cases.h) as jobs of gloo processes under `tensorpar run`
// (tests/support/process_testing.h), at world sizes 2, 3 and 4: every collective, every reduce
// op, broadcast and scatter from several roots, send/recv, barrier and split/subgroup, with the
// same closed-form values and the same CommDebugMode counts and bytes as on the simulated
// backend. Each launch costs 0.1-0.3 s, so one job runs every collective for one (W, dtype).
//
// Sim only, not run here: collective mismatch detection and timeouts naming the missing ranks
// (test_failures.cpp, test_timeouts.cpp; Gloo cannot detect a mismatch, docs/processes.md),
// 64 ranks, and the sim's own tests of split's errors and group names.
#include <gtest/gtest.h>

#include "collectives_cases.h"
#include "support/process_testing.h"

namespace tensorpar {
namespace {

namespace cases = collectives_cases;

struct GlooCase {
  int world;
  DType dtype;
};

class CollectivesGloo : public ::testing::TestWithParam<GlooCase> {};

TEST_P(CollectivesGloo, EveryCollectiveWithExactCounts) {
  const GlooCase c = GetParam();
  process_testing::run_on_gloo(c.world, [&] {
    const int rank = current_world().rank();
    cases::all_reduce_every_op(rank, c.dtype);
    cases::all_gather_concatenates_in_rank_order(rank, c.dtype);
    cases::reduce_scatter_every_op(rank, c.dtype);
    cases::all_to_all_transposes_blocks(rank, c.dtype);
    cases::broadcast_copies_the_roots_tensor(rank, c.dtype);
    cases::scatter_sends_block_rank_of_the_roots_input(rank, c.dtype);
    cases::send_recv_around_a_ring(rank, c.dtype);
  });
}

INSTANTIATE_TEST_SUITE_P(Gloo, CollectivesGloo,
                         ::testing::Values(GlooCase{2, DType::Float32}, GlooCase{2, DType::Float64},
                                           GlooCase{2, DType::Int64}, GlooCase{3, DType::Float32},
                                           GlooCase{3, DType::Float64}, GlooCase{3, DType::Int64},
                                           GlooCase{4, DType::Float32}, GlooCase{4, DType::Float64},
                                           GlooCase{4, DType::Int64}),
                         [](const auto& info) {
                           return cat("W", info.param.world, "_", dtype_name(info.param.dtype));
                         });

class CollectivesGlooWorld : public ::testing::TestWithParam<int> {};

// The dtype-independent cases, one job per world size.
TEST_P(CollectivesGlooWorld, BarrierSplitBFloat16InPlaceAndInterleaved) {
  process_testing::run_on_gloo(GetParam(), [] {
    const int rank = current_world().rank();
    cases::barrier_releases_only_when_every_rank_arrived(rank);
    cases::split_into_subgroups(rank);
    cases::bfloat16_reduces_through_float(rank);
    cases::in_place_all_gather_and_reduce_scatter(rank);
    cases::many_alternating_calls_keep_their_data(rank);
    cases::all_reduce_gives_bit_identical_results_on_every_rank(rank);
  });
}

INSTANTIATE_TEST_SUITE_P(Gloo, CollectivesGlooWorld, ::testing::Values(2, 3, 4),
                         [](const auto& info) { return cat("W", info.param); });

}  // namespace
}  // namespace tensorpar
