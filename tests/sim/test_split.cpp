// split() and subgroup(): the groups a DeviceMesh builds, their order, nesting, independence,
// and the subgroup cache.
#include <atomic>
#include <numeric>
#include <sstream>

#include "sim_testing.h"

namespace tensorpar {
namespace {

using sim_testing::error_of;
using sim_testing::make;
using sim_testing::values;

// The partition of ranks 0..numel(shape)-1 (row-major mesh) into the groups along mesh dim d:
// for shape [2, 3], d = 0 gives the columns [[0, 3], [1, 4], [2, 5]], d = 1 the rows.
std::vector<std::vector<int>> dim_groups(const Shape& shape, std::size_t d) {
  const auto strides = contiguous_strides(shape);
  std::vector<std::vector<int>> groups;
  for (int r = 0; r < numel(shape); ++r) {
    if ((r / strides[d]) % shape[d] != 0) continue;  // r is the first of its group
    std::vector<int> group;
    for (std::int64_t c = 0; c < shape[d]; ++c)
      group.push_back(static_cast<int>(r + c * strides[d]));
    groups.push_back(group);
  }
  return groups;
}

const std::vector<int>* group_of(const std::vector<std::vector<int>>& groups, int rank) {
  for (const auto& g : groups) {
    if (std::find(g.begin(), g.end(), rank) != g.end()) return &g;
  }
  return nullptr;
}

TEST(SimSplit, OrdersMembersByKeyThenRank) {
  sim::run(6, [](int rank) {
    auto reversed = current_world().split(rank % 2, -rank);
    ASSERT_NE(reversed, nullptr);
    EXPECT_EQ(reversed->global_ranks(),
              rank % 2 == 0 ? std::vector<int>({4, 2, 0}) : std::vector<int>({5, 3, 1}));
    EXPECT_EQ(reversed->rank(), 2 - rank / 2);
    EXPECT_EQ(reversed->size(), 3);
    auto ties = current_world().split(rank / 3, 0);
    EXPECT_EQ(ties->global_ranks(),
              rank < 3 ? std::vector<int>({0, 1, 2}) : std::vector<int>({3, 4, 5}));
    EXPECT_EQ(ties->rank(), rank % 3);
    EXPECT_EQ(ties->backend(), "sim");
    EXPECT_EQ(ties->default_timeout(), current_world().default_timeout());
  });
}

TEST(SimSplit, NegativeColorJoinsNoGroup) {
  sim::run(4, [](int rank) {
    auto comm = current_world().split(rank == 2 ? -1 : 7, rank);
    if (rank == 2) {
      EXPECT_EQ(comm, nullptr);
      return;
    }
    ASSERT_NE(comm, nullptr);
    EXPECT_EQ(comm->global_ranks(), std::vector<int>({0, 1, 3}));
    Tensor t = full({1}, rank);
    comm->all_reduce(t)->wait();
    EXPECT_EQ(t.item(), 4.0);
  });
}

struct MeshCase {
  Shape shape;
};

class MeshGroups : public ::testing::TestWithParam<MeshCase> {};

TEST_P(MeshGroups, EveryMeshDimFormsItsGroups) {
  const Shape shape = GetParam().shape;
  sim::run(static_cast<int>(numel(shape)), [&](int rank) {
    for (std::size_t d = 0; d < shape.size(); ++d) {
      const auto groups = dim_groups(shape, d);
      auto comm = current_world().subgroup(groups);
      ASSERT_NE(comm, nullptr);
      const std::vector<int>& mine = *group_of(groups, rank);
      EXPECT_EQ(comm->global_ranks(), mine) << "mesh dim " << d;
      EXPECT_EQ(comm->rank(), std::find(mine.begin(), mine.end(), rank) - mine.begin());
      Tensor t = full({3}, rank);
      comm->all_reduce(t)->wait();
      const double sum = std::accumulate(mine.begin(), mine.end(), 0);
      EXPECT_EQ(values(t), std::vector<double>(3, sum)) << "mesh dim " << d;
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Sim, MeshGroups,
                         ::testing::Values(MeshCase{{2, 3}}, MeshCase{{3, 2}}, MeshCase{{2, 2, 2}}),
                         [](const auto& info) {
                           std::ostringstream name;
                           for (std::size_t i = 0; i < info.param.shape.size(); ++i) {
                             name << (i ? "x" : "") << info.param.shape[i];
                           }
                           return name.str();
                         });

TEST(SimSplit, ColumnsOfATwoByThreeMeshDescribeThemselves) {
  auto names = sim::run(6, [](int rank) {
    return current_world().subgroup(dim_groups({2, 3}, 0))->describe();
  });
  EXPECT_EQ(names, std::vector<std::string>({"group [0, 3]", "group [1, 4]", "group [2, 5]",
                                             "group [0, 3]", "group [1, 4]", "group [2, 5]"}));
}

TEST(SimSplit, NestedSplitsWork) {
  sim::run(8, [](int rank) {
    auto half = current_world().split(rank / 4, rank);
    auto pair = half->split(half->rank() / 2, half->rank());
    auto single = pair->split(pair->rank(), 0);
    EXPECT_EQ(pair->global_ranks(), std::vector<int>({rank / 2 * 2, rank / 2 * 2 + 1}));
    EXPECT_EQ(single->global_ranks(), std::vector<int>({rank}));
    Tensor t = full({1}, rank);
    pair->all_reduce(t)->wait();
    EXPECT_EQ(t.item(), rank / 2 * 4 + 1);
    half->all_reduce(t)->wait();
    EXPECT_EQ(t.item(), rank < 4 ? 12 : 44);
    single->all_reduce(t)->wait();
    EXPECT_EQ(t.item(), rank < 4 ? 12 : 44);
  });
}

TEST(SimSplit, GroupsRunConcurrentlyAndIndependently) {
  // Rows of a 2x3 mesh issue different numbers and kinds of collectives at the same time.
  sim::run(6, [](int rank) {
    auto row = current_world().subgroup(dim_groups({2, 3}, 1));
    const int row_index = rank / 3;
    if (row_index == 0) {
      for (int i = 0; i < 60; ++i) {
        Tensor t = full({5}, i + rank);
        row->all_reduce(t)->wait();
        EXPECT_EQ(values(t), std::vector<double>(5, 3.0 * i + 3));
      }
    } else {
      for (int i = 0; i < 25; ++i) {
        Tensor out = Tensor::empty({3 * 2}, DType::Int64);
        row->all_gather(out,
                        make(2, DType::Int64, [&](std::int64_t k) { return rank * 10 + k + i; }))
            ->wait();
        EXPECT_EQ(values(out), std::vector<double>(
                                   {30.0 + i, 31.0 + i, 40.0 + i, 41.0 + i, 50.0 + i, 51.0 + i}));
      }
    }
    auto column = current_world().subgroup(dim_groups({2, 3}, 0));
    Tensor t = full({1}, rank);
    column->all_reduce(t)->wait();
    EXPECT_EQ(t.item(), 2 * (rank % 3) + 3);
  });
}

// Forwards everything to a real communicator and counts the splits it is asked for.
class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(std::shared_ptr<Communicator> inner) : inner_(std::move(inner)) {}
  int splits = 0;

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const std::vector<int>& global_ranks() const override { return inner_->global_ranks(); }
  std::string backend() const override { return inner_->backend(); }
  Milliseconds default_timeout() const override { return inner_->default_timeout(); }

 protected:
  WorkPtr do_all_reduce(Tensor& t, const AllReduceOptions& o) override {
    return inner_->all_reduce(t, o);
  }
  WorkPtr do_all_gather(Tensor& out, const Tensor& in, const AllGatherOptions& o) override {
    return inner_->all_gather(out, in, o);
  }
  WorkPtr do_reduce_scatter(Tensor& out, const Tensor& in, const ReduceScatterOptions& o) override {
    return inner_->reduce_scatter(out, in, o);
  }
  WorkPtr do_all_to_all(Tensor& out, const Tensor& in, const AllToAllOptions& o) override {
    return inner_->all_to_all(out, in, o);
  }
  WorkPtr do_broadcast(Tensor& t, const BroadcastOptions& o) override {
    return inner_->broadcast(t, o);
  }
  WorkPtr do_scatter(Tensor& out, const Tensor& in, const ScatterOptions& o) override {
    return inner_->scatter(out, in, o);
  }
  WorkPtr do_send(const Tensor& t, int dst, const PointToPointOptions& o) override {
    return inner_->send(t, dst, o);
  }
  WorkPtr do_recv(Tensor& t, int src, const PointToPointOptions& o) override {
    return inner_->recv(t, src, o);
  }
  WorkPtr do_barrier(const BarrierOptions& o) override { return inner_->barrier(o); }
  std::shared_ptr<Communicator> do_split(int color, int key) override {
    ++splits;
    return inner_->split(color, key);
  }

 private:
  std::shared_ptr<Communicator> inner_;
};

TEST(SimSubgroup, CachesByPartitionAndSplitsOnce) {
  sim::run(6, [](int rank) {
    CountingCommunicator world(current_world_ptr());
    auto rows = dim_groups({2, 3}, 1);
    auto first = world.subgroup(rows);
    auto again = world.subgroup(rows);
    EXPECT_EQ(first.get(), again.get());
    EXPECT_EQ(world.splits, 1);
    auto columns = world.subgroup(dim_groups({2, 3}, 0));
    EXPECT_NE(columns.get(), first.get());
    EXPECT_EQ(world.splits, 2);
    world.subgroup(dim_groups({2, 3}, 0));
    world.subgroup(rows);
    EXPECT_EQ(world.splits, 2);
  });
}

TEST(SimSubgroup, RanksOutsideThePartitionGetNull) {
  sim::run(4, [](int rank) {
    auto comm = current_world().subgroup({{3, 0}});
    if (rank == 1 || rank == 2) {
      EXPECT_EQ(comm, nullptr);
      return;
    }
    EXPECT_EQ(comm->global_ranks(), std::vector<int>({3, 0}));
    EXPECT_EQ(comm->rank(), rank == 3 ? 0 : 1);
  });
}

TEST(SimSubgroup, RejectsABadPartition) {
  sim::run(4, [](int) {
    Communicator& world = current_world();
    EXPECT_EQ(error_of<std::invalid_argument>([&] {
                world.subgroup({{0, 1}, {2, 4}});
              }),
              "subgroup: rank 4 is out of range for a group of size 4 (group [0, 1, 2, 3])");
    EXPECT_EQ(error_of<std::invalid_argument>([&] {
                world.subgroup({{0, 1}, {1, 2}});
              }),
              "subgroup: rank 1 appears more than once in the partition (group [0, 1, 2, 3])");
    EXPECT_EQ(error_of<std::invalid_argument>([&] {
                world.subgroup({{0, 1}, {}});
              }),
              "subgroup: group 1 of the partition is empty (group [0, 1, 2, 3])");
    // Nothing was split: the world still works.
    world.barrier()->wait();
  });
}

TEST(SimSplit, MismatchInASubgroupNamesGlobalRanks) {
  sim::run(6, [](int rank) {
    auto column = current_world().subgroup(dim_groups({2, 3}, 0));
    Tensor t = zeros({4}, rank == 4 ? DType::Float64 : DType::Float32);
    if (rank != 1 && rank != 4) {
      column->all_reduce(t)->wait();  // the other columns agree
      return;
    }
    EXPECT_EQ(error_of<CommMismatchError>([&] { column->all_reduce(t)->wait(); }),
              "collective mismatch in group [1, 4]: rank 1 called all_reduce(sum, float32, 4 "
              "elements), rank 4 called all_reduce(sum, float64, 4 elements)");
  });
}

}  // namespace
}  // namespace tensorpar
