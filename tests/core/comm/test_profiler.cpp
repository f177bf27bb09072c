// The op/collective profiler: off unless a scope is active, events per op and collective with
// their phase and bytes, nested events counted once.
#include <gtest/gtest.h>

#include "core/autograd/autograd.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/comm/profiler.h"
#include "sim/world.h"

namespace tensorpar {
namespace {

using profiler::Category;
using profiler::ProfileRecorder;
using profiler::ProfileScope;

std::vector<std::string> names(const ProfileRecorder& r) {
  std::vector<std::string> out;
  for (const auto& e : r.events()) out.push_back(e.name);
  return out;
}

TEST(Profiler, RecordsNothingWithoutAScope) {
  ProfileRecorder recorder;
  Tensor x = ones({4, 4});
  relu(x);
  EXPECT_TRUE(recorder.events().empty());
  EXPECT_EQ(profiler::active_recorder(), nullptr);
}

TEST(Profiler, RecordsForwardAndBackwardKernelsWithTheirPhase) {
  ProfileRecorder recorder;
  Tensor x = ones({4, 4}, DType::Float64).requires_grad_();
  {
    ProfileScope scope(recorder);
    EXPECT_EQ(profiler::active_recorder(), &recorder);
    sum(relu(x)).backward();
  }
  EXPECT_EQ(profiler::active_recorder(), nullptr);
  const auto n = names(recorder);
  ASSERT_EQ(n, (std::vector<std::string>{"relu", "sum", "sum_backward", "relu_backward"}));
  EXPECT_EQ(recorder.events()[0].phase, CommPhase::Forward);
  EXPECT_EQ(recorder.events()[3].phase, CommPhase::Backward);
  for (const auto& e : recorder.events()) {
    EXPECT_EQ(e.category, Category::Op);
    EXPECT_GE(e.duration_ns, 0);
    EXPECT_EQ(e.self_ns, e.duration_ns);  // nothing nested
  }
}

TEST(Profiler, RecordsCollectivesWithBytesOnEachRank) {
  sim::run(3, [](int) {
    DeviceMesh mesh({3});
    DTensor x = distribute_tensor(ones({6, 4}, DType::Float64), mesh, {Shard(0)});
    ProfileRecorder recorder;
    {
      ProfileScope scope(recorder);
      x.redistribute({Replicate()});
    }
    ASSERT_EQ(recorder.events().size(), 1u);
    const auto& e = recorder.events()[0];
    EXPECT_EQ(e.name, "all_gather");
    EXPECT_EQ(e.category, Category::Collective);
    EXPECT_EQ(e.bytes, 6 * 4 * 8);  // the gathered output, as CommDebugMode counts it
  });
}

TEST(Profiler, NestedEventsAreCountedOnce) {
  ProfileRecorder recorder;
  {
    ProfileScope scope(recorder);
    profiler::RecordEvent outer("outer", Category::Op);
    {
      profiler::RecordEvent inner("inner", Category::Collective, 128);
      relu(ones({64, 64}));
    }
  }
  ASSERT_EQ(names(recorder), (std::vector<std::string>{"relu", "inner", "outer"}));
  const auto& relu_e = recorder.events()[0];
  const auto& inner = recorder.events()[1];
  const auto& outer = recorder.events()[2];
  EXPECT_EQ(inner.self_ns, inner.duration_ns - relu_e.duration_ns);
  EXPECT_EQ(outer.self_ns, outer.duration_ns - inner.duration_ns);
  EXPECT_LE(relu_e.self_ns + inner.self_ns + outer.self_ns, outer.duration_ns);
  EXPECT_EQ(inner.bytes, 128);
}

TEST(Profiler, ScopesNestAndRestore) {
  ProfileRecorder a, b;
  {
    ProfileScope sa(a);
    {
      ProfileScope sb(b);
      relu(ones({2}));
    }
    relu(ones({2}));
  }
  EXPECT_EQ(a.events().size(), 1u);
  EXPECT_EQ(b.events().size(), 1u);
}

}  // namespace
}  // namespace tensorpar
