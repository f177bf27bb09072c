// The CUDA device: registration, the caching allocator on the device, streams and events, and
// the device interface (transfers, box copies, fills, conversions, the collectives' reduction)
// against the CPU's, bit for bit.
#include "core/tensor/device_interface.h"
#include "cuda/caching_allocator.h"
#include "cuda/cuda_testing.h"
#include "cuda/stream.h"

namespace tensorpar::cuda_testing {
namespace {

constexpr DType kAllDTypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16};

using CudaDevice = CudaTest;

TEST(CudaDeviceWithoutGpu, RegisteringWithoutADeviceSaysSo) {
  if (cuda::device_count() > 0) GTEST_SKIP() << "this machine has a CUDA device";
  expect_error<std::runtime_error>([] { cuda::register_cuda_device(); }, "no CUDA device");
}

TEST_F(CudaDevice, IsNamedCudaWithItsIndex) { EXPECT_EQ(device_str(gpu()), "cuda:0"); }

TEST_F(CudaDevice, EveryDTypeRoundTripsThroughTheDeviceBitForBit) {
  for (DType dtype : kAllDTypes) {
    const Tensor x = random({3, 257, 5}, dtype, -1000, 1000);
    const Tensor y = x.to(gpu());
    EXPECT_EQ(y.device(), gpu());
    expect_bitwise(y, x);
  }
}

TEST_F(CudaDevice, TransfersLargerThanTheStagingBufferRoundTrip) {
  const Tensor x = random({3 * 1024 * 1024 + 17}, DType::Float32);  // 12 MiB: 4 chunks
  expect_bitwise(x.to(gpu()), x);
}

TEST_F(CudaDevice, HostCodeMayNotReadDeviceMemory) {
  const Tensor y = ones({2}, DType::Float32, gpu());
  expect_error<std::invalid_argument>([&] { (void)y.data_ptr(); },
                                      "on cuda:0, whose memory host code may not read");
  EXPECT_EQ(y.item(), 1.0);
}

TEST_F(CudaDevice, FillConvertsTheValueAsTheCpuDoes) {
  for (DType dtype : kAllDTypes) {
    expect_bitwise(full({4, 3}, -2.75, dtype, gpu()), full({4, 3}, -2.75, dtype, cpu()));
  }
  expect_bitwise(full({5}, 1.00390625, DType::BFloat16, gpu()),
                 full({5}, 1.00390625, DType::BFloat16, cpu()));
}

TEST_F(CudaDevice, ConversionsMatchTheCpuBitForBit) {
  const Tensor x = random({1000}, DType::Float64, -1e6, 1e6);
  for (DType from : kAllDTypes) {
    for (DType to : kAllDTypes) {
      const Tensor src = x.to(from);
      expect_bitwise(on_gpu(src).to(to), src.to(to));
    }
  }
}

TEST_F(CudaDevice, ConvertingNanToInt64FailsNamingTheValue) {
  const Tensor x = from_vector<double>({1, std::nan(""), 3}, {3}, gpu());
  expect_error<std::invalid_argument>([&] { (void)x.to(DType::Int64); },
                                      "is not representable as int64");
}

TEST_F(CudaDevice, NarrowCopyBoxAndCatMoveTheSameBytesAsTheCpu) {
  const Tensor x = random({4, 6, 5}, DType::Float32);
  const Tensor g = on_gpu(x);
  expect_bitwise(g.narrow(1, 2, 3), x.narrow(1, 2, 3));
  expect_bitwise(g.narrow(2, 1, 3), x.narrow(2, 1, 3));
  Tensor dst_cpu = zeros({5, 7, 6}, DType::Float32, cpu());
  Tensor dst_gpu = zeros({5, 7, 6}, DType::Float32, gpu());
  copy_box(dst_cpu, {1, 0, 2}, x, {0, 1, 1}, {3, 4, 3});
  copy_box(dst_gpu, {1, 0, 2}, g, {0, 1, 1}, {3, 4, 3});
  expect_bitwise(dst_gpu, dst_cpu);
  const Tensor b = random({4, 2, 5}, DType::BFloat16);
  expect_bitwise(kernels::cat({on_gpu(x.to(DType::BFloat16)), on_gpu(b)}, 1),
                 kernels::cat({x.to(DType::BFloat16), b}, 1));
}

TEST_F(CudaDevice, TheCollectivesReductionMatchesTheHostsInRankOrder) {
  for (DType dtype : kAllDTypes) {
    for (ReduceOp op :
         {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min, ReduceOp::Product}) {
      std::vector<Tensor> host, dev;
      for (int r = 0; r < 5; ++r) {
        host.push_back(random({333}, dtype, -3, 3, std::uint64_t(r + 1)));
        dev.push_back(on_gpu(host.back()));
      }
      Tensor out_host = Tensor::empty({333}, dtype, cpu());
      Tensor out_dev = Tensor::empty({333}, dtype, gpu());
      std::vector<const void*> hs, ds;
      for (int r = 0; r < 5; ++r) {
        hs.push_back(host[std::size_t(r)].device_data());
        ds.push_back(dev[std::size_t(r)].device_data());
      }
      void* hd[] = {out_host.device_data()};
      void* dd[] = {out_dev.device_data()};
      cpu_device_interface().reduce(dtype, op, hs, hd, 333);
      device_interface(DeviceType::CUDA).reduce(dtype, op, ds, dd, 333);
      if (dtype == DType::Int64 || dtype == DType::BFloat16 || op == ReduceOp::Max ||
          op == ReduceOp::Min) {
        expect_bitwise(out_dev, out_host);
      } else {
        expect_close(out_dev, out_host);
      }
    }
  }
}

TEST_F(CudaDevice, TheAllocatorReusesAFreedBlockAndCountsIt) {
  cuda::synchronize(0);
  cuda::empty_cache();
  const cuda::PoolStats before = cuda::memory_stats(0);
  const void* first = nullptr;
  {
    const Tensor t = Tensor::empty({1024, 1024}, DType::Float32, gpu());  // 4 MiB
    first = t.device_data();
    const cuda::PoolStats live = cuda::memory_stats(0);
    EXPECT_EQ(live.allocated - before.allocated, std::size_t{4} << 20);
    EXPECT_GE(live.peak_allocated, live.allocated);
  }
  const cuda::PoolStats freed = cuda::memory_stats(0);
  EXPECT_EQ(freed.allocated, before.allocated);
  EXPECT_EQ(freed.reserved - before.reserved, std::size_t{4} << 20);
  const Tensor again = Tensor::empty({2 << 20}, DType::BFloat16, gpu());  // 4 MiB again
  EXPECT_EQ(again.device_data(), first);
  EXPECT_EQ(cuda::memory_stats(0).device_allocations, freed.device_allocations);
}

TEST_F(CudaDevice, EmptyCacheReturnsWhatNoTensorHolds) {
  { const Tensor t = Tensor::empty({3 << 20}, DType::Float32, gpu()); }
  EXPECT_GE(cuda::empty_cache(), std::size_t{12} << 20);
  EXPECT_EQ(cuda::memory_stats(0).cached, 0u);
}

TEST_F(CudaDevice, ABlockFreedOnOneStreamIsReusedOnAnotherAfterAnEvent) {
  cuda::Stream side(0);
  const void* first = nullptr;
  const std::size_t reuses = cuda::memory_stats(0).cross_stream_reuses;
  {
    const Tensor t = Tensor::empty({777, 1000}, DType::Float32, gpu());  // legacy stream
    first = t.device_data();
  }
  Tensor u;
  {
    cuda::StreamGuard on(0, side.get());
    u = Tensor::empty({777, 1000}, DType::Float32, gpu());
    u.fill_(3);
  }
  EXPECT_EQ(u.device_data(), first);
  EXPECT_EQ(cuda::memory_stats(0).cross_stream_reuses, reuses + 1);
  side.synchronize();
  EXPECT_EQ(kernels::reduce(kernels::ReduceOp::Max, u).item(), 3.0);
}

TEST_F(CudaDevice, KernelsRunOnTheRanksCurrentStreamAndEventsOrderThem) {
  cuda::Stream side(0);
  const Tensor x = random({1 << 20}, DType::Float32);
  Tensor y;
  cuda::Event done;
  {
    cuda::StreamGuard on(0, side.get());
    EXPECT_EQ(cuda::current_stream(0), side.get());
    y = kernels::unary(kernels::UnaryOp::Exp, on_gpu(x));
    done.record(side.get());
  }
  EXPECT_EQ(cuda::current_stream(0), cuda::legacy_stream());
  done.block(cuda::legacy_stream());
  done.synchronize();
  EXPECT_TRUE(done.query());
  expect_close(y, kernels::unary(kernels::UnaryOp::Exp, x));
}

}  // namespace
}  // namespace tensorpar::cuda_testing
