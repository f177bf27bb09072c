// The rank's current stream (cuda/stream.h): kept in the rank context, set and restored by
// StreamGuard, seen by a helper thread handed the context. Only the context is touched, so these
// run on every machine, with made-up stream handles.
#include <gtest/gtest.h>

#include <thread>

#include "core/base/rank_context.h"
#include "cuda/stream.h"

namespace tensorpar::cuda {
namespace {

cudaStream_t fake_stream(std::uintptr_t value) { return reinterpret_cast<cudaStream_t>(value); }

TEST(CurrentStream, IsTheLegacyStreamUntilAGuardNamesOne) {
  EXPECT_EQ(current_stream(0), legacy_stream());
  EXPECT_EQ(current_stream(3), legacy_stream());
}

TEST(CurrentStream, GuardsNestPerDeviceAndRestore) {
  {
    StreamGuard outer(0, fake_stream(0x10));
    EXPECT_EQ(current_stream(0), fake_stream(0x10));
    {
      StreamGuard inner(0, fake_stream(0x20));
      StreamGuard other_device(1, fake_stream(0x30));
      EXPECT_EQ(current_stream(0), fake_stream(0x20));
      EXPECT_EQ(current_stream(1), fake_stream(0x30));
    }
    EXPECT_EQ(current_stream(0), fake_stream(0x10));
    EXPECT_EQ(current_stream(1), legacy_stream());
  }
  EXPECT_EQ(current_stream(0), legacy_stream());
}

TEST(CurrentStream, AHelperHandedTheRankContextUsesTheRanksStream) {
  StreamGuard on(0, fake_stream(0x40));
  auto context = RankContext::capture();
  cudaStream_t seen = nullptr, own = fake_stream(1);
  std::thread helper([&] {
    own = current_stream(0);  // the helper's own context
    RankContextGuard guard(context);
    seen = current_stream(0);
  });
  helper.join();
  EXPECT_EQ(seen, fake_stream(0x40));
  EXPECT_EQ(own, legacy_stream());
}

TEST(CurrentStream, EachRankContextHasItsOwn) {
  auto a = RankContext::create(), b = RankContext::create();
  {
    RankContextGuard in_a(a);
    StreamGuard on(0, fake_stream(0x50));
    RankContextGuard in_b(b);
    EXPECT_EQ(current_stream(0), legacy_stream());
  }
}

TEST(CurrentStream, ADeviceIndexOutsideTheTableIsAnError) {
  EXPECT_THROW((void)current_stream(64), std::invalid_argument);
  EXPECT_THROW((void)current_stream(-1), std::invalid_argument);
}

}  // namespace
}  // namespace tensorpar::cuda
