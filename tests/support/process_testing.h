#pragma once
// Tests whose body runs as the ranks of a job of gloo processes under `tensorpar run`, started
// from ctest like any other test:
//
//   TEST(Suite, Case) { process_testing::run_on_gloo(3, [] { ...DeviceMesh mesh({3}); ... }); }
//
// In the test process, run_on_gloo starts `tensorpar run --nproc-per-node 3 -- <this binary>
// --gtest_filter=Suite.Case` and expects every worker to pass (the workers' output, prefixed
// with their rank, is printed when one fails). In each worker it joins the job
// (ProcessWorld("gloo")) and runs the body: gtest failures there fail that worker, whose exit
// code fails the launcher. Every wait is bounded: the collectives and the store time out after
// 20 s, the job is killed after 60 s.
//
// Needs TENSORPAR_CLI_PATH and TENSORPAR_RUN_WORKER_PATH (tools/launcher_testing.h), and the
// gloo backend (TENSORPAR_HAVE_GLOO); without it the test is skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

#include "core/comm/process_world.h"
#include "tools/launcher_testing.h"
#ifdef TENSORPAR_HAVE_GLOO
#include "gloo/gloo_backend.h"
#endif

namespace tensorpar::process_testing {

// Set in the workers' environment (through `env`), so that only they run the body.
inline constexpr const char* kWorkerEnv = "TENSORPAR_TEST_WORKER";

inline bool in_worker() { return std::getenv(kWorkerEnv) != nullptr; }

inline std::string this_test_filter() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name();
}

inline std::string this_executable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// Runs `body` on every rank of a job of `world` gloo processes (see above).
inline void run_on_gloo(int world, const std::function<void()>& body) {
#ifndef TENSORPAR_HAVE_GLOO
  (void)world;
  (void)body;
  GTEST_SKIP() << "built without Gloo";
#else
  using namespace std::chrono_literals;
  if (in_worker()) {
    gloo::register_gloo_backend();
    ProcessWorld job("gloo", {.store_timeout = 20s, .collective_timeout = 20s});
    EXPECT_EQ(job.env().world_size, world) << "started with another WORLD_SIZE";
    if (job.env().world_size == world) body();
    return;
  }
  launcher_testing::Launch launch({"--nproc-per-node", std::to_string(world), "--master-port",
                                   "0", "--grace-period", "1", "--", "env",
                                   std::string(kWorkerEnv) + "=1", this_executable(),
                                   "--gtest_filter=" + this_test_filter()});
  const launcher_testing::Outcome o = launch.finish(60s);
  EXPECT_EQ(o.exit_code, 0) << "the job of " << world << " gloo processes failed:\n" << o.out;
  // Each worker ran this one test (a filter matching nothing would pass vacuously).
  for (int r = 0; r < world; ++r) {
    EXPECT_NE(o.out.find("[rank" + std::to_string(r) + "]:[  PASSED  ] 1 test."),
              std::string::npos)
        << "rank " << r << " did not run the test:\n" << o.out;
  }
  std::cout << "[ timing   ] " << world << " gloo processes: " << o.seconds << " s\n";
#endif
}

}  // namespace tensorpar::process_testing
