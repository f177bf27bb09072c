// NcclOptions: the defaults are valid, and every bad field is refused naming it and its value;
// the nccl backend registers under its name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/comm/backend_registry.h"
#include "cuda/nccl_backend.h"
#include "cuda/nccl_options.h"

namespace tensorpar::cuda {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

void expect_refused(const NcclOptions& o, const std::string& text) {
  EXPECT_THAT([&] { validate(o); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(text)));
}

TEST(NcclOptions, TheDefaultsAreValid) {
  const NcclOptions o;
  EXPECT_NO_THROW(validate(o));
  EXPECT_EQ(o.device, -1);
  EXPECT_EQ(o.timeout, 300000ms);
  EXPECT_EQ(o.on_error, NcclErrorHandling::Raise);
  EXPECT_FALSE(o.blocking_wait);
}

TEST(NcclOptions, EachBadFieldIsNamedWithItsValue) {
  NcclOptions o;
  o.device = -2;
  expect_refused(o, "NcclOptions: device must be -1 (the current device) or >= 0, got -2");
  o = {};
  o.timeout = 0ms;
  expect_refused(o, "NcclOptions: timeout must be > 0 ms, got 0 ms");
  o = {};
  o.watchdog_interval = -5ms;
  expect_refused(o, "NcclOptions: watchdog_interval must be > 0 ms, got -5 ms");
  o = {};
  o.prefix = "";
  expect_refused(o, "NcclOptions: prefix must not be empty");
  o = {};
  o.max_ctas = 65;
  expect_refused(o, "NcclOptions: max_ctas must be -1 (NCCL's default) or in [1, 64], got 65");
  o = {};
  o.cga_cluster_size = 9;
  expect_refused(o,
                 "NcclOptions: cga_cluster_size must be -1 (NCCL's default) or in [0, 8], got 9");
  o = {};
  o.min_ctas = 8;
  o.max_ctas = 4;
  expect_refused(o, "NcclOptions: min_ctas 8 exceeds max_ctas 4");
}

TEST(NcclBackend, RegistersUnderTheNameNccl) {
  register_nccl_backend();
  EXPECT_TRUE(has_backend("nccl"));
}

}  // namespace
}  // namespace tensorpar::cuda
