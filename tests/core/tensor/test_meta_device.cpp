// The meta device: tensors with shapes and dtypes but no values; its allocator counts requested
// bytes per account and hands out no memory; values never reach the host.
#include <gtest/gtest.h>

#include <thread>

#include "core/tensor/meta_device.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using tensor_testing::expect_error;

TEST(MetaDevice, IsNamedMetaWithoutAnIndex) {
  EXPECT_EQ(device_str(meta_device()), "meta");
  EXPECT_STREQ(device_type_name(DeviceType::Meta), "meta");
  EXPECT_FALSE(is_host(meta_device()));
}

TEST(MetaDevice, AScopeCountsLiveBytesAndTheHighWaterMark) {
  auto memory = std::make_shared<MetaMemory>();
  const MetaMemoryScope scope(memory);
  {
    const Tensor a = Tensor::empty({1000, 1000}, DType::Float32, meta_device());  // 4 MB
    const Tensor b = zeros({10}, DType::Int64, meta_device());
    EXPECT_EQ(memory->bytes_in_use(), 4000000u + 80u);
    const Tensor view = a.reshape({1000000});  // shares the storage: no new bytes
    EXPECT_EQ(memory->bytes_in_use(), 4000080u);
  }
  EXPECT_EQ(memory->bytes_in_use(), 0u);
  EXPECT_EQ(memory->peak_bytes(), 4000080u);
  const Tensor c = Tensor::empty({5}, DType::BFloat16, meta_device());
  memory->reset_peak();
  EXPECT_EQ(memory->peak_bytes(), 10u);
}

TEST(MetaDevice, BytesFreedOnAnotherThreadGoBackToTheirAccount) {
  auto first = std::make_shared<MetaMemory>();
  auto second = std::make_shared<MetaMemory>();
  Tensor t;
  {
    const MetaMemoryScope scope(first);
    t = Tensor::empty({64}, DType::Float64, meta_device());
  }
  std::thread other([&] {
    const MetaMemoryScope scope(second);
    t = Tensor();  // freed here, charged to `first`
  });
  other.join();
  EXPECT_EQ(first->bytes_in_use(), 0u);
  EXPECT_EQ(first->peak_bytes(), 512u);
  EXPECT_EQ(second->peak_bytes(), 0u);
}

TEST(MetaDevice, ScopesNestAndRestore) {
  auto outer = std::make_shared<MetaMemory>();
  auto inner = std::make_shared<MetaMemory>();
  const MetaMemoryScope a(outer);
  {
    const MetaMemoryScope b(inner);
    EXPECT_EQ(&current_meta_memory(), inner.get());
  }
  EXPECT_EQ(&current_meta_memory(), outer.get());
}

TEST(MetaDevice, ACpuTensorMovesToMetaShapeOnly) {
  const Tensor cpu_tensor = arange(6, DType::Float32).reshape({2, 3});
  const Tensor m = cpu_tensor.to(meta_device());
  EXPECT_EQ(m.device(), meta_device());
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_EQ(m.dtype(), DType::Float32);
  // Memory operations keep shapes and do nothing else.
  EXPECT_EQ(m.clone().shape(), (Shape{2, 3}));
  EXPECT_EQ(m.narrow(1, 1, 2).shape(), (Shape{2, 2}));
  EXPECT_EQ(m.to(DType::BFloat16).dtype(), DType::BFloat16);
  Tensor f = m.clone();
  f.fill_(3.0).narrow_assign_(0, 1, m.narrow(0, 0, 1));
  EXPECT_EQ(from_vector<double>({1, 2}, {2}, meta_device()).shape(), (Shape{2}));
}

TEST(MetaDevice, ValuesNeverReachTheHost) {
  const Tensor m = Tensor::empty({1}, DType::Float32, meta_device());
  expect_error<std::invalid_argument>([&] { m.item(); },
                                      "Tensor::item: meta tensors have no values");
  expect_error<std::invalid_argument>([&] { to_vector<float>(m); },
                                      "to_vector: meta tensors have no values");
  expect_error<std::invalid_argument>([&] { m.to(cpu()); }, "to: meta tensors have no values");
  expect_error<std::invalid_argument>([&] { m.data_ptr(); }, "whose memory host code may not read");
}

// As torch prints a meta tensor: no values, its size and dtype.
TEST(MetaDevice, PrintsItsShapeInsteadOfValues) {
  EXPECT_EQ(Tensor::empty({2, 3}, DType::Float32, meta_device()).to_string(),
            "tensor(..., device='meta', size=(2, 3), dtype=float32)");
  EXPECT_EQ(Tensor::empty({4}, DType::Int64, meta_device()).to_string(),
            "tensor(..., device='meta', size=(4,), dtype=int64)");
}

}  // namespace
}  // namespace tensorpar
