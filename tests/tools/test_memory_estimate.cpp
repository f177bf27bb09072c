// The memory a run needs at least (tools/cli/memory_estimate.h), against the machine's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tools/cli/args.h"
#include "tools/cli/memory_estimate.h"

namespace tensorpar::cli {
namespace {

using ::testing::HasSubstr;

TEST(MemoryEstimate, TrainCountsStateActivationsLogitsAndTokens) {
  TrainConfig c;
  c.layers = 3;
  c.dim = 8;
  c.heads = 2;
  c.vocab = 10;
  c.seq = 5;
  c.batch = 7;
  c.dtype = DType::Float64;
  c.optimizer = "sgd";
  // Parameters: 3 x (12 x 64 + 72) + 10 x 8 + 5 x 8 + 16 = 2656; weights and gradients.
  const double state = 2656.0 * 2 * 8;
  const double probabilities = 3.0 * 7 * 2 * 5 * 5 * 8;
  const double activations = 3.0 * 7 * 5 * 8 * 8 * 8;
  const double logits = 2.0 * 7 * 5 * 10 * 8;
  const double tokens = 3.0 * 2 * 7 * 5 * 8;  // 3 ranks in this process
  const MemoryEstimate e = train_memory(c, 3);
  EXPECT_DOUBLE_EQ(e.bytes, state + probabilities + activations + logits + tokens);
  ASSERT_EQ(e.parts.size(), 5u);
  EXPECT_EQ(e.parts.front().first, "other activations (layers x batch x seq x 8 dim)");
  c.optimizer = "adam";  // two moments more
  EXPECT_DOUBLE_EQ(train_memory(c, 3).bytes - e.bytes, 2656.0 * 2 * 8);
}

TEST(MemoryEstimate, TheDefaultTrainingRunNeedsAFewMebibytes) {
  EXPECT_LT(train_memory(TrainConfig{}, 4).bytes, 4 << 20);
}

TEST(MemoryEstimate, RedistributeHoldsTheTensorTwiceOnEveryRankAndStagesItOnce) {
  EXPECT_DOUBLE_EQ(redistribute_memory({10, 5}, DType::Float32, 3).bytes,
                   2.0 * 3 * 50 * 4 + 50 * 8);
}

TEST(MemoryEstimate, ARunPastTheMachinesMemoryIsRefusedNamingFlagsAndSizes) {
  const MemoryEstimate e = redistribute_memory({1 << 20, 1 << 20}, DType::Float64, 2);
  try {
    check_fits(e, 16.0 * (1 << 30), "--shape 1048576x1048576");
    FAIL() << "not refused";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()),
              "--shape 1048576x1048576 needs at least 40.0 TiB of memory, more than this "
              "machine's 16.0 GiB (the global tensor and its gathered copy on every rank: "
              "32.0 TiB; the input's float64 staging on one rank: 8.0 TiB); choose smaller "
              "sizes");
  }
  EXPECT_NO_THROW(check_fits(e, 40.0 * (1LL << 40), "--shape 1048576x1048576"));
  EXPECT_NO_THROW(check_fits(e, 0, "--shape 1048576x1048576"));  // memory unknown
}

TEST(MemoryEstimate, TheMachineHasMemoryAndBytesReadInBinaryUnits) {
  EXPECT_GT(machine_memory_bytes(), 64.0 * (1 << 20));
  EXPECT_EQ(bytes_text(512), "512 B");
  EXPECT_EQ(bytes_text(1536), "1.5 KiB");
  EXPECT_EQ(bytes_text(8.0 * (1LL << 50)), "8.0 PiB");
}

}  // namespace
}  // namespace tensorpar::cli
