// How NCCL communicators meet through the Store, without a GPU: the unique id from rank 0 to
// everyone, and split's membership ordered as ncclCommSplit orders it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "core/comm/communicator.h"
#include "core/comm/hash_store.h"
#include "cuda/nccl_rendezvous.h"
#include "support/rank_threads.h"

namespace tensorpar::cuda {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::size_t kIdBytes = 128;

StoreBytes id_of(std::uint8_t seed) {
  StoreBytes id(kIdBytes);
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(seed + i);
  return id;
}

TEST(NcclRendezvous, RankZeroMakesTheUniqueIdAndEveryRankGetsTheSameBytes) {
  HashStore store(5000ms);
  std::atomic<int> made{0};
  std::vector<StoreBytes> got(5);
  testing_support::run_rank_threads(5, [&](int rank) {
    got[rank] = exchange_unique_id(
        store, "nccl/unique_id", rank, kIdBytes, 5000ms,
        [&] {
          ++made;
          return id_of(3);
        },
        " on rank r: ");
  });
  EXPECT_EQ(made, 1);
  for (const auto& id : got) EXPECT_EQ(id, id_of(3));
}

TEST(NcclRendezvous, AMissingRankZeroIsATimeoutNamingTheKey) {
  HashStore store(5000ms);
  EXPECT_THAT(
      [&] {
        exchange_unique_id(
            store, "nccl/unique_id", 2, kIdBytes, 30ms, [] { return id_of(0); },
            " on rank 2 of group [0, 1, 2]: ");
      },
      ::testing::ThrowsMessage<CommTimeoutError>(HasSubstr(
          "NCCL initialisation timed out after 30 ms on rank 2 of group [0, 1, 2]: rank 0 never "
          "published the unique id under \"nccl/unique_id\"")));
}

TEST(NcclRendezvous, AnIdOfTheWrongSizeIsRejectedNamingBothSizes) {
  HashStore store(5000ms);
  store.set("nccl/unique_id", StoreBytes(12, 0));
  EXPECT_THAT(
      [&] {
        exchange_unique_id(
            store, "nccl/unique_id", 1, kIdBytes, 1000ms, [] { return id_of(0); },
            " on rank 1 of group [0, 1]: ");
      },
      ::testing::ThrowsMessage<CommError>(
          HasSubstr("the unique id under \"nccl/unique_id\" has 12 bytes, expected 128")));
}

TEST(NcclRendezvous, SplitMembersAreOrderedByKeyThenParentRank) {
  // (color, key) of parent ranks 0..5.
  const std::vector<std::pair<int, int>> ck = {{0, 5}, {1, 0}, {0, 1}, {1, 0}, {-1, 0}, {0, 1}};
  EXPECT_THAT(split_members(ck, 0), ElementsAre(2, 5, 0));
  EXPECT_THAT(split_members(ck, 1), ElementsAre(1, 3));
  EXPECT_TRUE(split_members(ck, -1).empty());
  EXPECT_TRUE(split_members(ck, 7).empty());
}

TEST(NcclRendezvous, ExchangeSplitGivesEachRankItsGroup) {
  // Seven ranks, a 2-D mesh's rows of an uneven split: colors r % 3, keys -r (reversed order).
  HashStore store(5000ms);
  std::vector<std::vector<int>> groups(7);
  testing_support::run_rank_threads(7, [&](int rank) {
    groups[rank] = exchange_split(store, "nccl/split0/", rank, 7, rank % 3, -rank, 5000ms, ": ");
  });
  EXPECT_THAT(groups[0], ElementsAre(6, 3, 0));
  EXPECT_THAT(groups[3], ElementsAre(6, 3, 0));
  EXPECT_THAT(groups[1], ElementsAre(4, 1));
  EXPECT_THAT(groups[5], ElementsAre(5, 2));
}

TEST(NcclRendezvous, ARankThatNeverSplitsIsATimeoutNamingIt) {
  HashStore store(5000ms);
  store.set("nccl/split0/rank0", std::string("0 0"));
  store.set("nccl/split0/rank2", std::string("0 0"));
  EXPECT_THAT(
      [&] {
        exchange_split(store, "nccl/split0/", 0, 4, 0, 0, 30ms,
                       " on rank 0 of group [0, 1, 2, 3]: ");
      },
      ::testing::ThrowsMessage<CommTimeoutError>(HasSubstr(
          "split timed out after 30 ms on rank 0 of group [0, 1, 2, 3]: ranks [1, 3] never called "
          "split")));
}

}  // namespace
}  // namespace tensorpar::cuda
