// NcclCommunicator on real GPUs: every collective with closed-form results, split, the errors
// that name the collective and the group, and a peer that never arrives ending in a timeout
// rather than a hang. One GPU runs the world of one (and the init timeout); two or more run the
// multi-rank cases, one rank thread per GPU. Without a GPU every test skips ("no CUDA device").
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/comm/comm_debug_mode.h"
#include "core/comm/hash_store.h"
#include "core/comm/rank_context.h"
#include "cuda/nccl_work.h"
#include "sim/world.h"
#include "tests/cuda/nccl_testing.h"

namespace tensorpar::cuda {
namespace {

using namespace std::chrono_literals;
using nccl_testing::gpu;
using nccl_testing::run_nccl;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<double> values(const Tensor& t) { return to_vector<double>(t.to(cpu())); }

Tensor on_gpu(const std::vector<double>& v, int device, DType dtype = DType::Float32) {
  return from_vector<double>(v, {static_cast<std::int64_t>(v.size())}, cpu())
      .to(dtype)
      .to(gpu(device));
}

std::shared_ptr<NcclCommunicator> world_of_one() {
  NcclOptions o;
  o.device = 0;
  o.timeout = 20000ms;
  return make_nccl_world(std::make_shared<HashStore>(20000ms), 0, 1, o);
}

// Every collective of the interface once (all_reduce twice) on `comm`, with tensors on
// `device`; checks the values a world of one must give and returns what CommDebugMode recorded.
std::vector<CollectiveRecord> every_collective(Communicator& comm, Device device) {
  auto make = [&](std::vector<double> v) {
    return from_vector<double>(v, {static_cast<std::int64_t>(v.size())}, cpu())
        .to(DType::Float32)
        .to(device);
  };
  CommDebugMode mode;
  Tensor t = make({1, 2, 3});
  comm.all_reduce(t)->wait();
  comm.all_reduce(t, {.op = ReduceOp::Avg})->wait();
  EXPECT_THAT(values(t), ElementsAre(1, 2, 3));
  Tensor gathered = make({0, 0, 0});
  comm.all_gather(gathered, t)->wait();
  EXPECT_THAT(values(gathered), ElementsAre(1, 2, 3));
  Tensor scattered = make({0, 0, 0});
  comm.reduce_scatter(scattered, t, {.op = ReduceOp::Max})->wait();
  EXPECT_THAT(values(scattered), ElementsAre(1, 2, 3));
  Tensor swapped = make({0, 0, 0});
  comm.all_to_all(swapped, t)->wait();
  EXPECT_THAT(values(swapped), ElementsAre(1, 2, 3));
  comm.broadcast(t)->wait();
  Tensor part = make({0, 0, 0});
  comm.scatter(part, t)->wait();
  EXPECT_THAT(values(part), ElementsAre(1, 2, 3));
  comm.barrier()->wait();
  return mode.records();
}

TEST(NcclCommunicator, AWorldOfOneRunsEveryCollectiveAndRecordsThemAsTheSimDoes) {
  TENSORPAR_REQUIRE_CUDA_DEVICES(1);
  auto comm = world_of_one();
  EXPECT_EQ(comm->backend(), "nccl");
  EXPECT_EQ(comm->size(), 1);
  const std::vector<CollectiveRecord> nccl = every_collective(*comm, gpu(0));
  const std::vector<CollectiveRecord> sim =
      sim::run(1, [] { return every_collective(current_world(), cpu()); }).at(0);
  ASSERT_EQ(nccl.size(), 8u);
  ASSERT_EQ(nccl.size(), sim.size());
  for (std::size_t i = 0; i < nccl.size(); ++i) {
    EXPECT_EQ(nccl[i].kind, sim[i].kind) << i;
    EXPECT_EQ(nccl[i].bytes, sim[i].bytes) << collective_name(nccl[i].kind);
    EXPECT_EQ(nccl[i].group, sim[i].group) << collective_name(nccl[i].kind);
    EXPECT_EQ(nccl[i].op, sim[i].op) << collective_name(nccl[i].kind);
  }
}

TEST(NcclCommunicator, EveryDtypeReducesOnAWorldOfOne) {
  TENSORPAR_REQUIRE_CUDA_DEVICES(1);
  auto comm = world_of_one();
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16}) {
    Tensor t = on_gpu({-2, 0, 5}, 0, dtype);
    comm->all_reduce(t, {.op = ReduceOp::Product})->wait();
    EXPECT_THAT(values(t), ElementsAre(-2, 0, 5)) << dtype_name(dtype);
  }
}

TEST(NcclCommunicator, SynchronizeBlocksTheHostUntilTheCollectiveFinished) {
  TENSORPAR_REQUIRE_CUDA_DEVICES(1);
  auto comm = world_of_one();
  Tensor t = on_gpu(std::vector<double>(1 << 20, 1.0), 0);
  auto work = comm->all_reduce(t);
  auto* nccl = dynamic_cast<NcclWork*>(work.get());
  ASSERT_NE(nccl, nullptr);
  nccl->synchronize();
  EXPECT_TRUE(work->is_completed());
}

TEST(NcclCommunicator, SplitOfAWorldOfOneGivesAGroupOfOneOrNone) {
  TENSORPAR_REQUIRE_CUDA_DEVICES(1);
  auto comm = world_of_one();
  auto part = comm->split(0, 0);
  ASSERT_NE(part, nullptr);
  EXPECT_EQ(part->size(), 1);
  EXPECT_THAT(part->global_ranks(), ElementsAre(0));
  Tensor t = on_gpu({4}, 0);
  part->all_reduce(t)->wait();
  EXPECT_THAT(values(t), ElementsAre(4));
  EXPECT_EQ(comm->split(-1, 0), nullptr);
  EXPECT_EQ(comm->subgroup({{0}}), comm->subgroup({{0}}));  // split once, then cached
}

TEST(NcclCommunicator, ACpuTensorIsRefusedNamingItsDevice) {
  TENSORPAR_REQUIRE_CUDA_DEVICES(1);
  auto comm = world_of_one();
  Tensor t = from_vector<float>({1, 2}, {2}, cpu());
  EXPECT_THAT([&] { comm->all_reduce(t); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "all_reduce: tensor is on cpu but this nccl communicator moves tensors on "
                  "cuda:0 only (group [0])")));
}

TEST(NcclCommunicator, APeerThatNeverArrivesIsAnInitTimeoutNotAHang) {
  TENSORPAR_REQUIRE_CUDA_DEVICES(1);
  NcclOptions o;
  o.device = 0;
  o.timeout = 500ms;
  auto store = std::make_shared<HashStore>(5000ms);
  EXPECT_THAT([&] { make_nccl_world(store, 0, 2, o); },
              ::testing::ThrowsMessage<CommTimeoutError>(HasSubstr(
                  "NCCL initialisation timed out after 500 ms on rank 0 of group [0, 1]: not "
                  "every rank of the group joined")));
}

TEST(NcclCommunicator, RanksOnSeveralGpusReduceGatherAndSplit) {
  const int world = std::min(nccl_testing::cuda_devices(), 4);
  TENSORPAR_REQUIRE_CUDA_DEVICES(2);
  run_nccl(world, [world](Communicator& comm, int rank) {
    Tensor t = on_gpu({rank + 1.0, 10.0 * rank}, rank);
    comm.all_reduce(t)->wait();
    const double n = world;
    EXPECT_THAT(values(t), ElementsAre(n * (n + 1) / 2, 10 * n * (n - 1) / 2));
    Tensor mine = on_gpu({static_cast<double>(rank)}, rank);
    Tensor all = on_gpu(std::vector<double>(world, -1), rank);
    comm.all_gather(all, mine)->wait();
    std::vector<double> expected;
    for (int r = 0; r < world; ++r) expected.push_back(r);
    EXPECT_THAT(values(all), ElementsAreArray(expected));
    // Even and odd ranks, reversed by key.
    auto half = comm.split(rank % 2, -rank);
    ASSERT_NE(half, nullptr);
    Tensor one = on_gpu({1.0}, rank);
    half->all_reduce(one)->wait();
    EXPECT_EQ(values(one)[0], half->size());
    EXPECT_EQ(half->global_ranks().front(),
              rank % 2 == 0 ? (world - 1) / 2 * 2 : (world - 2) / 2 * 2 + 1);
    if (rank == 1) {
      Tensor out = on_gpu({0, 0}, rank);
      comm.recv(out, 0)->wait();
      EXPECT_THAT(values(out), ElementsAre(7, 8));
    } else if (rank == 0) {
      comm.send(on_gpu({7, 8}, rank), 1)->wait();
    }
    comm.barrier()->wait();
  });
}

TEST(NcclCommunicator, ARankThatStopsCallingFailsTheOthersCollectiveNamingIt) {
  TENSORPAR_REQUIRE_CUDA_DEVICES(2);
  // Rank 1 stays alive (its communicator open) without joining the all_reduce, so rank 0 sees a
  // stuck collective, not a peer that went away.
  std::atomic<bool> rank0_done{false};
  EXPECT_THAT(
      [&] {
        run_nccl(
            2,
            [&](Communicator& comm, int rank) {
              comm.barrier()->wait();
              if (rank == 1) {
                while (!rank0_done) std::this_thread::sleep_for(1ms);
                return;
              }
              try {
                Tensor t = on_gpu({1.0}, rank);
                auto work = comm.all_reduce(t, {.timeout = 300ms});
                dynamic_cast<NcclWork&>(*work).synchronize();
              } catch (...) {
                rank0_done = true;
                throw;
              }
              rank0_done = true;
            },
            20000ms);
      },
      ::testing::ThrowsMessage<CommTimeoutError>(
          HasSubstr("all_reduce timed out after 300 ms on rank 0 of group [0, 1]")));
}

}  // namespace
}  // namespace tensorpar::cuda
