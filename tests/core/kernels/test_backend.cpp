// The kernel backend registry: lookup per device type, the "does not support" default of every
// entry, and the device check of the public kernel functions.
#include "core/kernels/backend.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

#include "core/kernels/elementwise.h"
#include "core/kernels/matmul.h"
#include "core/tensor_testing.h"

namespace tensorpar {
namespace {

using kernels::BinaryOp;
using kernels::KernelBackend;
using tensor_testing::expect_error;

constexpr Device kStandIn{DeviceType::StandIn, 0};

// Registers `backend` for the stand-in device for one test and restores what was there.
class StandInBackendScope {
 public:
  explicit StandInBackendScope(KernelBackend* backend)
      : saved_(kernels::registered_kernel_backend(DeviceType::StandIn)) {
    // Host memory for the stand-in, so the tests can make tensors on it; an allocator stays
    // registered once set (there is no way back to "none"), which is harmless here.
    static HostAllocator allocator;
    try {
      allocator_for(DeviceType::StandIn);
    } catch (const std::invalid_argument&) {
      register_allocator(DeviceType::StandIn, &allocator);
    }
    kernels::register_kernel_backend(DeviceType::StandIn, backend);
  }
  ~StandInBackendScope() { kernels::register_kernel_backend(DeviceType::StandIn, saved_); }
  StandInBackendScope(const StandInBackendScope&) = delete;
  StandInBackendScope& operator=(const StandInBackendScope&) = delete;

 private:
  KernelBackend* saved_;
};

TEST(KernelBackend, CpuIsRegisteredFromTheStart) {
  EXPECT_EQ(kernels::kernel_backend(DeviceType::CPU).device_name(), "cpu");
  EXPECT_EQ(&kernels::backend_for(zeros({2})), &kernels::kernel_backend(DeviceType::CPU));
}

TEST(KernelBackend, LookupWithoutABackendNamesTheDevice) {
  StandInBackendScope scope(nullptr);
  expect_error<std::invalid_argument>(
      [] { kernels::kernel_backend(DeviceType::StandIn); },
      "kernel_backend: no kernel backend registered for device type standin");
}

TEST(KernelBackend, AnEntryTheDeviceLacksSaysSo) {
  KernelBackend bare("standin");
  StandInBackendScope scope(&bare);
  EXPECT_EQ(&kernels::kernel_backend(DeviceType::StandIn), &bare);
  Tensor x = Tensor::empty({2, 3}, DType::Float32, kStandIn);
  expect_error<std::runtime_error>([&] { kernels::unary(kernels::UnaryOp::Relu, x); },
                                   "standin does not support unary");
  expect_error<std::runtime_error>([&] { kernels::matmul(x, x, false, true); },
                                   "standin does not support matmul");
  expect_error<std::runtime_error>([&] { bare.sgd_update_(x, x, x, true, {}); },
                                   "standin does not support sgd_update_");
}

TEST(KernelBackend, ArgumentChecksComeBeforeTheDevice) {
  KernelBackend bare("standin");
  StandInBackendScope scope(&bare);
  Tensor x = Tensor::empty({2, 3}, DType::Float32, kStandIn);
  expect_error<std::invalid_argument>([&] { kernels::matmul(x, x); },
                                      "matmul: inner dims differ");
}

TEST(KernelBackend, InputsOnDifferentDevicesAreAnErrorNamingBoth) {
  StandInBackendScope scope(&kernels::kernel_backend(DeviceType::CPU));
  Tensor a = zeros({2, 3});
  Tensor b = Tensor::empty({2, 3}, DType::Float32, kStandIn);
  expect_error<std::invalid_argument>(
      [&] { kernels::binary(BinaryOp::Add, a, b, "add"); },
      "add: tensors on different devices: a is cpu, b is standin:0");
  expect_error<std::invalid_argument>(
      [&] { kernels::matmul(a, b, false, true); },
      "matmul: tensors on different devices: a is cpu, b is standin:0");
}

TEST(KernelBackend, TheCpuBackendServesHostAddressableDevices) {
  StandInBackendScope scope(&kernels::kernel_backend(DeviceType::CPU));
  Tensor a = Tensor::empty({3}, DType::Float64, kStandIn);
  for (int i = 0; i < 3; ++i) static_cast<double*>(a.device_data())[i] = i + 1;
  Tensor y = kernels::binary(BinaryOp::Mul, a, a, "mul");
  EXPECT_EQ(y.device(), kStandIn);
  const auto* p = static_cast<const double*>(y.device_data());
  EXPECT_EQ(p[0], 1);
  EXPECT_EQ(p[1], 4);
  EXPECT_EQ(p[2], 9);
  Tensor s = kernels::sum(y, {}, false);
  EXPECT_EQ(s.device(), kStandIn);
  EXPECT_EQ(*static_cast<const double*>(s.device_data()), 14);
}

}  // namespace
}  // namespace tensorpar
