#pragma once
// Shared by the shape-only step suites: the same step's collectives on the real sim, and the
// call-by-call comparison of two collective sequences.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "core/comm/comm_debug_mode.h"
#include "sim/world.h"
#include "tools/shape_only/transformer_step.h"

namespace tensorpar::shape_only_testing {

// 2 layers, 12 heads of 2 (6, 4 and 3 local heads at tp 2, 3, 4), vocab 11 (uneven over 2, 3
// and 4 ranks), 2 sequences of 12, dropout 0.1.
inline ShapeOnlyStepConfig small_config(int world, bool sp, bool loss_parallel) {
  ShapeOnlyStepConfig c;
  c.world = world;
  c.model.n_layers = 2;
  c.model.dim = 24;
  c.model.n_heads = 12;
  c.model.vocab_size = 11;
  c.model.max_seq_len = 12;
  c.model.dropout_p = 0.1;
  c.batch = 2;
  c.seq = 12;
  c.sequence_parallel = sp;
  c.loss_parallel = loss_parallel;
  return c;
}

// The step's collectives on the real sim (CPU tensors) at c.ranks() ranks, from the start of
// the forward pass.
inline std::vector<std::vector<CollectiveRecord>> real_step_collectives(
    const ShapeOnlyStepConfig& c) {
  return sim::run(c.ranks(), [&](int) {
    CommDebugMode mode;
    transformer_tp_step(c, [&](std::string_view phase) {
      if (phase == "forward") mode.reset();
    });
    return mode.records();
  });
}

// Kind, bytes, group, op, phase and module equal, call by call.
inline void expect_same_sequence(const std::vector<CollectiveRecord>& got,
                                 const std::vector<CollectiveRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(collective_name(got[i].kind), collective_name(want[i].kind));
    EXPECT_EQ(got[i].bytes, want[i].bytes);
    EXPECT_EQ(got[i].group, want[i].group);
    EXPECT_EQ(got[i].op, want[i].op);
    EXPECT_EQ(got[i].phase, want[i].phase);
    EXPECT_EQ(got[i].module, want[i].module);
  }
}

}  // namespace tensorpar::shape_only_testing
