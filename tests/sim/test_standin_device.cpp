// The stand-in device: tensor memory that host code may not touch, reached only through the
// device interface, and the sim's collectives over it giving the CPU's values bit for bit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/tensor/philox.h"
#include "sim/sim_testing.h"
#include "sim/standin_device.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using sim::standin_device;
using testing::expect_error;

class StandIn : public ::testing::Test {
 protected:
  void SetUp() override { sim::register_standin_device(); }
};

TEST_F(StandIn, HostCodeMayNotReadItsMemory) {
  Tensor t = zeros({2, 3}, DType::Float32, standin_device());
  EXPECT_EQ(t.device(), standin_device());
  expect_error<std::invalid_argument>([&] { t.data_ptr(); },
                                      "Tensor::data_ptr: the tensor is on standin:0, whose memory "
                                      "host code may not read");
  expect_error<std::invalid_argument>([&] { t.data<float>(); }, "standin:0");
  EXPECT_NE(t.device_data(), nullptr);  // what kernels and communicators use
}

TEST_F(StandIn, FactoriesFollowTheCurrentDevice) {
  DeviceGuard on(standin_device());
  EXPECT_EQ(current_device(), standin_device());
  EXPECT_EQ(zeros({2}).device(), standin_device());
  EXPECT_EQ(arange(5).device(), standin_device());
  EXPECT_EQ(from_vector<double>({1, 2}, {2}).device(), standin_device());
  Generator gen(7);
  EXPECT_EQ(randn({3}, gen).device(), standin_device());
  EXPECT_EQ(zeros({2}, DType::Float32, cpu()).device(), cpu());
}

TEST_F(StandIn, CurrentDeviceIsPerThreadAndRestored) {
  {
    DeviceGuard on(standin_device());
    sim::run(2, [] { EXPECT_EQ(current_device(), cpu()); });  // rank threads start on the CPU
  }
  EXPECT_EQ(current_device(), cpu());
}

TEST_F(StandIn, MemoryOperationsMatchTheCpu) {
  const Tensor host = arange(0, 24, 1, DType::Float64).reshape({4, 6});
  const Tensor dev = host.to(standin_device());
  EXPECT_EQ(dev.device(), standin_device());
  EXPECT_TRUE(equal(dev.to(cpu()), host));
  EXPECT_EQ(to_vector<double>(dev), to_vector<double>(host));
  EXPECT_TRUE(equal(dev.narrow(1, 2, 3).to(cpu()), host.narrow(1, 2, 3)));   // strided box
  EXPECT_TRUE(equal(dev.narrow(0, 1, 2).to(cpu()), host.narrow(0, 1, 2)));   // a view
  EXPECT_TRUE(equal(dev.clone().to(cpu()), host));
  EXPECT_TRUE(equal(dev.to(DType::Float32).to(cpu()), host.to(DType::Float32)));
  EXPECT_EQ(dev.narrow(0, 3, 1).narrow(1, 5, 1).item(), 23.0);

  Tensor a = zeros({4, 6}, DType::Float64, standin_device());
  a.narrow_assign_(1, 1, dev.narrow(1, 0, 2));
  Tensor b = zeros({4, 6}, DType::Float64);
  b.narrow_assign_(1, 1, host.narrow(1, 0, 2));
  EXPECT_TRUE(equal(a.to(cpu()), b));

  Tensor c = Tensor::empty({4, 6}, DType::Float32, standin_device());
  c.copy_(host);  // across devices, with a dtype change
  EXPECT_TRUE(equal(c.to(cpu()), host.to(DType::Float32)));
  c.fill_(2.5);
  EXPECT_EQ(to_vector<float>(c), std::vector<float>(24, 2.5f));

  Tensor box = zeros({3, 4}, DType::Float64, standin_device());
  copy_box(box, {1, 2}, dev, {0, 0}, {2, 2});
  EXPECT_EQ(to_vector<double>(box),
            (std::vector<double>{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 6, 7}));
}

TEST_F(StandIn, RandomDrawsAreTheCpusNumbers) {
  Generator g1(11), g2(11);
  const Tensor on_cpu = randn({5, 7}, g1, DType::Float32, cpu());
  const Tensor on_dev = randn({5, 7}, g2, DType::Float32, standin_device());
  EXPECT_TRUE(equal(on_dev.to(cpu()), on_cpu));
  EXPECT_EQ(g1.offset(), g2.offset());
}

TEST_F(StandIn, PrintsItsValuesAndDevice) {
  const Tensor t = from_vector<float>({1, 2}, {2}, standin_device());
  EXPECT_EQ(t.to_string(), "tensor([1., 2.], device='standin:0', dtype=float32)");
}

// Every collective, small (the CPU's staged path) and large, on stand-in tensors at an odd world
// size: the values of the CPU run, bit for bit.
TEST_F(StandIn, SimCollectivesGiveTheCpusValues) {
  for (std::int64_t n : {6, 30000}) {
    auto run_on = [n](Device device) {
      return sim::run(3, [n, device](int rank) {
        DeviceGuard on(device);
        Communicator& world = current_world();
        std::vector<double> out;
        auto append = [&](const Tensor& t) {
          EXPECT_EQ(t.device(), device);
          for (double v : to_vector<double>(t)) out.push_back(v);
        };
        Tensor x = arange(0, double(n) * (rank + 1), rank + 1.0, DType::Float32);
        world.all_reduce(x, {.op = ReduceOp::Sum})->wait();
        append(x);
        Tensor y = arange(rank, double(n + rank), 1, DType::Float64);
        world.all_reduce(y, {.op = ReduceOp::Max})->wait();
        append(y);
        Tensor gathered = Tensor::empty({3 * n}, DType::Float32);
        world.all_gather(gathered, full({n}, rank + 0.5))->wait();
        append(gathered);
        Tensor part = Tensor::empty({n}, DType::Float32);
        world.reduce_scatter(part, arange(0, 3.0 * n, 1, DType::Float32))->wait();
        append(part);
        Tensor swapped = Tensor::empty({3 * n}, DType::Float32);
        world.all_to_all(swapped, arange(0, 3.0 * n * (rank + 1), rank + 1.0, DType::Float32))->wait();
        append(swapped);
        Tensor b = full({n}, rank);
        world.broadcast(b, {.root = 2})->wait();
        append(b);
        Tensor s = Tensor::empty({n}, DType::Float32);
        world.scatter(s, arange(0, 3.0 * n, 1, DType::Float32), {.root = 1})->wait();
        append(s);
        Tensor r = Tensor::empty({n}, DType::Float32);
        world.send(full({n}, 10.0 + rank), (rank + 1) % 3)->wait();
        world.recv(r, (rank + 2) % 3)->wait();
        append(r);
        return out;
      });
    };
    EXPECT_EQ(run_on(standin_device()), run_on(cpu())) << n << " elements";
  }
}

// DTensor data movement on the stand-in: the same shards, the same full tensor and the same
// collective counts as on the CPU, uneven shards included.
TEST_F(StandIn, RedistributeMatchesTheCpu) {
  auto run_on = [](Device device) {
    return sim::run(3, [device](int) {
      DeviceGuard on(device);
      DeviceMesh mesh({3});
      const Tensor whole = arange(0, 35, 1, DType::Float64).reshape({7, 5});
      CommDebugMode comm;
      DTensor x = distribute_tensor(whole, mesh, {Shard(0)});
      DTensor y = x.redistribute({Shard(1)});
      DTensor z = y.redistribute({Replicate()});
      EXPECT_EQ(z.to_local().device(), device);
      std::vector<double> out = to_vector<double>(y.to_local());
      for (double v : to_vector<double>(z.full_tensor())) out.push_back(v);
      out.push_back(double(comm.total_count()));
      return out;
    });
  };
  EXPECT_EQ(run_on(standin_device()), run_on(cpu()));
}

// The check itself: code behind the seam that reads host memory, as a careless op or style
// would, works on the CPU and fails on the stand-in, so a suite run there catches it.
TEST_F(StandIn, CodeThatReadsHostMemoryFailsOnIt) {
  auto host_sum = [](const Tensor& x) {  // reads the elements directly: not device-neutral
    const float* p = x.data<float>();
    double s = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) s += p[i];
    return s;
  };
  auto run_on = [&](Device device) {
    return sim::run(3, [&, device](int) {
      DeviceGuard on(device);
      DeviceMesh mesh({3});
      DTensor x = distribute_tensor(ones({6, 2}), mesh, {Shard(0)});
      return host_sum(x.to_local());
    });
  };
  EXPECT_EQ(run_on(cpu()), (std::vector<double>{4, 4, 4}));
  try {
    run_on(standin_device());
    ADD_FAILURE() << "reading stand-in memory from host code did not fail";
  } catch (const sim::RankFailure& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("the tensor is on standin:0, whose memory host "
                                               "code may not read"));
  }
}

}  // namespace
}  // namespace tensorpar
