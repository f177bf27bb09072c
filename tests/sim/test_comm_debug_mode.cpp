// CommDebugMode counts what each rank issues: kinds, bytes in nccl-tests' convention, nesting and
// per-thread isolation.
#include <thread>

#include "core/comm/comm_debug_mode.h"
#include "sim_testing.h"

namespace tensorpar {
namespace {

using ::testing::HasSubstr;

TEST(CommDebugMode, CountsEveryCollectiveWithItsBytes) {
  sim::run(4, [](int rank) {
    Communicator& comm = current_world();
    CommDebugMode mode;
    Tensor f10 = zeros({10});
    comm.all_reduce(f10, {.op = ReduceOp::Max})->wait();  // 40 bytes
    Tensor gathered = zeros({12}, DType::Float64);
    comm.all_gather(gathered, zeros({3}, DType::Float64))->wait();  // output: 96 bytes
    Tensor rs = zeros({2});
    comm.reduce_scatter(rs, zeros({8}))->wait();  // input: 32 bytes
    Tensor a2a = zeros({8}, DType::Int64);
    comm.all_to_all(a2a, zeros({8}, DType::Int64))->wait();  // 64 bytes
    comm.broadcast(f10)->wait();                             // 40 bytes
    Tensor sc = zeros({5});
    comm.scatter(sc, rank == 0 ? zeros({20}) : Tensor())->wait();  // input: 80 bytes
    comm.all_reduce(f10)->wait();                                  // 40 bytes
    comm.barrier()->wait();                                        // 0 bytes
    if (rank == 0) comm.send(zeros({6}), 1)->wait();               // 24 bytes
    if (rank == 1) {
      Tensor got = zeros({6});
      comm.recv(got, 0)->wait();
    }

    EXPECT_EQ(mode.count(CollectiveKind::AllReduce), 2);
    EXPECT_EQ(mode.bytes(CollectiveKind::AllReduce), 80);
    EXPECT_EQ(mode.bytes(CollectiveKind::AllGather), 96);
    EXPECT_EQ(mode.bytes(CollectiveKind::ReduceScatter), 32);
    EXPECT_EQ(mode.bytes(CollectiveKind::AllToAll), 64);
    EXPECT_EQ(mode.bytes(CollectiveKind::Broadcast), 40);
    EXPECT_EQ(mode.bytes(CollectiveKind::Scatter), 80);
    EXPECT_EQ(mode.count(CollectiveKind::Barrier), 1);
    EXPECT_EQ(mode.bytes(CollectiveKind::Barrier), 0);
    EXPECT_EQ(mode.count(CollectiveKind::Send), rank == 0 ? 1 : 0);
    EXPECT_EQ(mode.count(CollectiveKind::Recv), rank == 1 ? 1 : 0);
    EXPECT_EQ(mode.total_count(), rank <= 1 ? 9 : 8);
    EXPECT_EQ(mode.total_bytes(), rank <= 1 ? 416 : 392);
    EXPECT_EQ(mode.records()[0].op, ReduceOp::Max);
    EXPECT_EQ(mode.records()[0].group, std::vector<int>({0, 1, 2, 3}));
    std::map<std::string, std::int64_t> expected = {
        {"all_reduce", 2}, {"all_gather", 1}, {"reduce_scatter", 1}, {"all_to_all", 1},
        {"broadcast", 1},  {"scatter", 1},    {"barrier", 1}};
    if (rank == 0) expected["send"] = 1;
    if (rank == 1) expected["recv"] = 1;
    EXPECT_EQ(mode.counts_by_name(), expected);
    EXPECT_EQ(mode.counts().size(), expected.size());
  });
}

TEST(CommDebugMode, RecordsTheSubgroupsGlobalRanks) {
  sim::run(4, [](int rank) {
    auto pair = current_world().split(rank % 2, rank);
    CommDebugMode mode;
    Tensor t = zeros({1});
    pair->all_reduce(t)->wait();
    ASSERT_EQ(mode.total_count(), 1);
    EXPECT_EQ(mode.records()[0].group,
              rank % 2 == 0 ? std::vector<int>({0, 2}) : std::vector<int>({1, 3}));
  });
}

TEST(CommDebugMode, RejectedCallsAreNotRecorded) {
  sim::run(2, [](int) {
    CommDebugMode mode;
    Tensor out = zeros({3});
    EXPECT_THROW(current_world().all_gather(out, zeros({2})), std::invalid_argument);
    EXPECT_EQ(mode.total_count(), 0);
  });
}

TEST(CommDebugMode, NestedModesEachSeeTheirScope) {
  sim::run(2, [](int) {
    Tensor t = zeros({4});
    CommDebugMode outer;
    current_world().all_reduce(t)->wait();
    {
      CommDebugMode inner;
      current_world().all_reduce(t)->wait();
      current_world().broadcast(t)->wait();
      EXPECT_EQ(inner.total_count(), 2);
    }
    current_world().barrier()->wait();
    EXPECT_EQ(outer.count(CollectiveKind::AllReduce), 2);
    EXPECT_EQ(outer.count(CollectiveKind::Broadcast), 1);
    EXPECT_EQ(outer.total_count(), 4);
    outer.reset();
    EXPECT_EQ(outer.total_count(), 0);
    EXPECT_TRUE(CommDebugMode::active());
  });
  EXPECT_FALSE(CommDebugMode::active());
}

TEST(CommDebugMode, ModesArePerThread) {
  CommDebugMode on_main_thread;
  sim::run(3, [](int rank) {
    EXPECT_FALSE(CommDebugMode::active());  // the main thread's mode is not the rank's
    std::optional<CommDebugMode> mode;
    if (rank == 1) mode.emplace();
    Tensor t = zeros({4});
    for (int i = 0; i < rank + 1; ++i) current_world().barrier()->wait();
    for (int i = rank + 1; i < 3; ++i) current_world().barrier()->wait();
    current_world().all_reduce(t)->wait();
    if (rank == 1) {
      EXPECT_EQ(mode->count(CollectiveKind::Barrier), 3);
      EXPECT_EQ(mode->count(CollectiveKind::AllReduce), 1);
    }
  });
  EXPECT_EQ(on_main_thread.total_count(), 0);
}

TEST(CommDebugMode, TablesListKindsCountsAndBytes) {
  sim::run(2, [](int rank) {
    CommDebugMode mode;
    Tensor t = zeros({4});
    current_world().all_reduce(t)->wait();
    current_world().all_reduce(t)->wait();
    Tensor out = zeros({8});
    current_world().all_gather(out, t)->wait();
    const std::string table = mode.table();
    EXPECT_THAT(table, HasSubstr("collective"));
    EXPECT_THAT(table, HasSubstr("all_reduce     |     2 |           32"));
    EXPECT_THAT(table, HasSubstr("all_gather     |     1 |           32"));
    EXPECT_THAT(table, HasSubstr("total          |     3 |           64"));
  });
  std::vector<std::map<CollectiveKind, std::int64_t>> counts = {
      {{CollectiveKind::AllGather, 2}},
      {{CollectiveKind::AllGather, 2}, {CollectiveKind::Send, 1}}};
  std::vector<std::map<CollectiveKind, std::int64_t>> bytes = {
      {{CollectiveKind::AllGather, 64}},
      {{CollectiveKind::AllGather, 64}, {CollectiveKind::Send, 8}}};
  const std::string table = format_rank_table(counts, bytes);
  EXPECT_THAT(table, HasSubstr("rank 0"));
  EXPECT_THAT(table, HasSubstr("rank 1"));
  EXPECT_THAT(table, HasSubstr("all_gather     | 2 / 64         | 2 / 64"));
  EXPECT_THAT(table, HasSubstr("send           | 0 / 0          | 1 / 8"));
}

}  // namespace
}  // namespace tensorpar
