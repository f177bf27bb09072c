// Placements and the torch.chunk layout rules.
#include <gtest/gtest.h>

#include "core/dtensor/dtensor_spec.h"
#include "core/dtensor/placement.h"
#include "support/dtensor_testing.h"

namespace tensorpar {
namespace {

using testing::expect_error;

TEST(Placement, StringFormsAreShort) {
  EXPECT_EQ(Shard(0).str(), "S(0)");
  EXPECT_EQ(Shard(2).str(), "S(2)");
  EXPECT_EQ(Replicate().str(), "R");
  EXPECT_EQ(Partial().str(), "P(sum)");
  EXPECT_EQ(Partial(ReduceOp::Max).str(), "P(max)");
  EXPECT_EQ(placements_str({Shard(0), Replicate()}), "[S(0), R]");
}

TEST(Placement, ComparesByValue) {
  EXPECT_EQ(Shard(1), Shard(1));
  EXPECT_NE(Shard(0), Shard(1));
  EXPECT_EQ(Replicate(), Replicate());
  EXPECT_EQ(Partial(), Partial(ReduceOp::Sum));
  EXPECT_NE(Partial(ReduceOp::Sum), Partial(ReduceOp::Max));
  EXPECT_NE(Shard(0), Replicate());
  EXPECT_NE(Partial(), Replicate());
}

TEST(Placement, AccessorsRejectTheWrongKind) {
  EXPECT_EQ(Shard(3).dim(), 3);
  EXPECT_EQ(Partial(ReduceOp::Min).reduce_op(), ReduceOp::Min);
  expect_error<std::invalid_argument>([] { (void)Replicate().dim(); }, "R is not a Shard");
  expect_error<std::invalid_argument>([] { (void)Shard(0).reduce_op(); },
                                           "S(0) is not a Partial");
}

TEST(Placement, ParsesCommandLineSpellings) {
  EXPECT_EQ(parse_placement("R"), Replicate());
  EXPECT_EQ(parse_placement("S0"), Shard(0));
  EXPECT_EQ(parse_placement("S(1)"), Shard(1));
  EXPECT_EQ(parse_placement("S(-1)"), Shard(-1));
  EXPECT_EQ(parse_placement("P"), Partial());
  EXPECT_EQ(parse_placement("P(sum)"), Partial());
  EXPECT_EQ(parse_placement("P(max)"), Partial(ReduceOp::Max));
  EXPECT_EQ(parse_placement("P(avg)"), Partial(ReduceOp::Avg));
  EXPECT_EQ(parse_placements("S0,S(1),P(min)"),
            (Placements{Shard(0), Shard(1), Partial(ReduceOp::Min)}));
}

TEST(Placement, ParseRejectsGarbageNamingTheText) {
  for (const char* bad : {"", "X", "S", "S(a)", "P(mean)", "R1", "S(0", "Q(0)"}) {
    expect_error<std::invalid_argument>([&] { parse_placement(bad); },
                                             std::string("invalid placement '") + bad + "'");
  }
}

TEST(ChunkRule, MatchesTorchChunkTable) {
  auto sizes = [](std::int64_t size, std::int64_t n) {
    std::vector<std::int64_t> out;
    for (std::int64_t k = 0; k < n; ++k) out.push_back(chunk_extent(size, n, k).size);
    return out;
  };
  EXPECT_EQ(sizes(5, 4), (std::vector<std::int64_t>{2, 2, 1, 0}));
  EXPECT_EQ(sizes(9, 4), (std::vector<std::int64_t>{3, 3, 3, 0}));
  EXPECT_EQ(sizes(3, 4), (std::vector<std::int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(sizes(1, 4), (std::vector<std::int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(sizes(12, 4), (std::vector<std::int64_t>{3, 3, 3, 3}));
  EXPECT_EQ(sizes(7, 5), (std::vector<std::int64_t>{2, 2, 2, 1, 0}));
  EXPECT_EQ(sizes(0, 3), (std::vector<std::int64_t>{0, 0, 0}));
}

TEST(ChunkRule, EmptyChunksSitAtTheEnd) {
  EXPECT_EQ(chunk_extent(5, 4, 3).offset, 5);
  EXPECT_EQ(chunk_extent(5, 4, 2).offset, 4);
  EXPECT_EQ(padded_chunk_size(5, 4), 2);
  EXPECT_EQ(padded_chunk_size(0, 4), 0);
}

TEST(LocalShard, NestedShardsSplitLeftToRight) {
  // Global (2, 5) on a 2x2 mesh with [S(1), S(1)]: 5 -> [3, 2], then 3 -> [2, 1], 2 -> [1, 1].
  const Shape global{2, 5};
  const Shape mesh{2, 2};
  const Placements ps{Shard(1), Shard(1)};
  struct Want {
    std::vector<std::int64_t> coord;
    Shape shape, offset;
  };
  for (const Want& w : {Want{{0, 0}, {2, 2}, {0, 0}}, Want{{0, 1}, {2, 1}, {0, 2}},
                        Want{{1, 0}, {2, 1}, {0, 3}}, Want{{1, 1}, {2, 1}, {0, 4}}}) {
    const LocalShard s = local_shard_of(global, mesh, ps, w.coord);
    EXPECT_EQ(s.shape, w.shape) << shape_str(w.coord);
    EXPECT_EQ(s.offset, w.offset) << shape_str(w.coord);
  }
}

TEST(LocalShard, TwoByFourMeshOffsets) {
  // [S(0), R] on a 2x4 mesh of a (24, 3) tensor: offset (12 * (rank / 4), 0).
  for (std::int64_t rank = 0; rank < 8; ++rank) {
    const LocalShard s = local_shard_of({24, 3}, {2, 4}, {Shard(0), Replicate()},
                                        {rank / 4, rank % 4});
    EXPECT_EQ(s.offset, (Shape{12 * (rank / 4), 0}));
    const LocalShard t = local_shard_of({3, 24}, {2, 4}, {Replicate(), Shard(1)},
                                        {rank / 4, rank % 4});
    EXPECT_EQ(t.offset, (Shape{0, 6 * (rank % 4)}));
  }
}

TEST(LocalShard, LogicalShapeAppliesOnlyEarlierMeshDims) {
  const Placements ps{Shard(0), Shard(0)};
  EXPECT_EQ(logical_shape_at({10, 5}, {2, 2}, ps, {1, 0}, 0), (Shape{10, 5}));
  EXPECT_EQ(logical_shape_at({10, 5}, {2, 2}, ps, {1, 0}, 1), (Shape{5, 5}));
}

TEST(NormalizePlacements, WrapsNegativeDimsAndChecksCounts) {
  EXPECT_EQ(normalize_placements({Shard(-1)}, 1, 2, "f"), (Placements{Shard(1)}));
  expect_error<std::invalid_argument>(
      [] { normalize_placements({Shard(0)}, 2, 2, "distribute_tensor"); },
      "distribute_tensor: `placements` must have the same length as `device_mesh.ndim`! Found "
      "placements length: 1, and device_mesh.ndim: 2.");
  expect_error<std::invalid_argument>(
      [] { normalize_placements({Shard(2)}, 1, 2, "from_local"); },
      "from_local: S(2) is out of range for a tensor of 2 dims");
  expect_error<std::invalid_argument>(
      [] { normalize_placements({Shard(-3)}, 1, 2, "from_local"); }, "S(-3) is out of range");
}

}  // namespace
}  // namespace tensorpar
