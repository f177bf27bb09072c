// The NCCL watchdog without a GPU: operations are fakes whose completion the test controls, the
// communicator is two hooks that count their calls. What is checked is what keeps a job from
// hanging: late operations fail with CommTimeoutError naming them and the group, NCCL's
// asynchronous error fails the oldest, the communicator is aborted exactly once, and a failed
// group fails every later operation at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/comm/communicator.h"
#include "cuda/nccl_watchdog.h"
#include "cuda/nccl_work.h"

namespace tensorpar::cuda {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const std::string kWhere = " on rank 1 of group [0, 1, 2]: ";

// An operation that is done once `done` is set.
struct FakeOp {
  std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<WatchedOp> op;
  FakeOp(const std::string& what, Milliseconds timeout,
         DeadlineClock::time_point issued = DeadlineClock::now(),
         std::shared_ptr<void> keep_alive = nullptr) {
    auto flag = done;
    op = std::make_shared<WatchedOp>(
        what, timeout, [flag] { return flag->load(); }, std::move(keep_alive), issued);
  }
};

struct Counters {
  std::atomic<int> aborts{0};
  std::optional<std::string> async_error;
  NcclWatchdog::Hooks hooks() {
    return {[this] { return async_error; }, [this] { ++aborts; }};
  }
};

template <class E>
bool is(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

TEST(NcclWatchdog, ADoneOperationIsReleasedWithWhatItKeptAlive) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  auto tensors = std::make_shared<int>(7);
  std::weak_ptr<int> kept = tensors;
  FakeOp a("all_reduce", 1000ms, DeadlineClock::now(), std::move(tensors));
  dog.watch(a.op);
  dog.check();
  EXPECT_EQ(dog.pending(), 1u);
  EXPECT_FALSE(kept.expired());
  *a.done = true;
  dog.check();
  EXPECT_EQ(dog.pending(), 0u);
  EXPECT_TRUE(kept.expired());
  EXPECT_TRUE(a.op->settled());
  EXPECT_EQ(a.op->error(), nullptr);
  EXPECT_EQ(c.aborts, 0);
}

TEST(NcclWatchdog, AnOperationPastItsDeadlineFailsTheGroupNamingItAndAbortsOnce) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  const auto t0 = DeadlineClock::now();
  FakeOp late("all_reduce", 2000ms, t0);
  FakeOp other("all_gather", 60000ms, t0);
  dog.watch(late.op);
  dog.watch(other.op);
  dog.check(t0 + 1999ms);
  EXPECT_EQ(dog.failure(), nullptr);
  dog.check(t0 + 2000ms);
  ASSERT_NE(late.op->error(), nullptr);
  EXPECT_TRUE(is<CommTimeoutError>(late.op->error()));
  EXPECT_THAT(exception_message(late.op->error()),
              HasSubstr("all_reduce timed out after 2000 ms on rank 1 of group [0, 1, 2]: "));
  EXPECT_THAT(exception_message(late.op->error()), HasSubstr("aborted the NCCL communicator"));
  // The other pending operation fails too, saying why.
  ASSERT_NE(other.op->error(), nullptr);
  EXPECT_FALSE(is<CommTimeoutError>(other.op->error()));
  EXPECT_TRUE(is<CommError>(other.op->error()));
  EXPECT_THAT(exception_message(other.op->error()),
              HasSubstr("all_gather failed on rank 1 of group [0, 1, 2]: the NCCL communicator "
                        "was aborted: all_reduce timed out after 2000 ms"));
  EXPECT_EQ(c.aborts, 1);
  EXPECT_EQ(dog.pending(), 0u);
  dog.check(t0 + 5000ms);
  EXPECT_EQ(c.aborts, 1);
}

TEST(NcclWatchdog, AfterAFailureEveryNewOperationFailsAtOnce) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  const auto t0 = DeadlineClock::now();
  FakeOp late("broadcast", 5ms, t0);
  dog.watch(late.op);
  dog.check(t0 + 10ms);
  FakeOp next("reduce_scatter", 60000ms);
  dog.watch(next.op);
  ASSERT_NE(next.op->error(), nullptr);
  EXPECT_THAT(exception_message(next.op->error()),
              HasSubstr("reduce_scatter failed on rank 1 of group [0, 1, 2]: the NCCL communicator "
                        "was aborted earlier: broadcast timed out after 5 ms"));
  EXPECT_EQ(dog.pending(), 0u);
  EXPECT_EQ(c.aborts, 1);
}

TEST(NcclWatchdog, NcclsAsynchronousErrorFailsTheOldestPendingOperation) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  FakeOp first("send to rank 2 (tag 0)", 60000ms);
  FakeOp second("all_reduce", 60000ms);
  dog.watch(first.op);
  dog.watch(second.op);
  dog.check();
  EXPECT_EQ(c.aborts, 0);
  c.async_error = "NCCL error 'remote process exited or there was a network error'";
  dog.check();
  ASSERT_NE(first.op->error(), nullptr);
  EXPECT_FALSE(is<CommTimeoutError>(first.op->error()));
  EXPECT_THAT(exception_message(first.op->error()),
              HasSubstr("send to rank 2 (tag 0) failed on rank 1 of group [0, 1, 2]: NCCL reported "
                        "an asynchronous error: NCCL error 'remote process exited"));
  EXPECT_THAT(exception_message(second.op->error()), HasSubstr("all_reduce failed on rank 1"));
  EXPECT_EQ(c.aborts, 1);
}

TEST(NcclWatchdog, AnAsynchronousErrorWithNothingPendingNamesTheCommunicator) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  c.async_error = "NCCL error 'unhandled system error'";
  dog.check();
  ASSERT_NE(dog.failure(), nullptr);
  EXPECT_THAT(exception_message(dog.failure()),
              HasSubstr("the communicator failed on rank 1 of group [0, 1, 2]: NCCL reported"));
  EXPECT_EQ(c.aborts, 1);
}

TEST(NcclWatchdog, AFailingCompletionQueryFailsTheGroup) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  auto op = std::make_shared<WatchedOp>("all_to_all", 60000ms, []() -> bool {
    throw std::runtime_error(
        "cudaEventQuery: CUDA error 'an illegal memory access was encountered'");
  });
  dog.watch(op);
  dog.check();
  ASSERT_NE(op->error(), nullptr);
  EXPECT_THAT(exception_message(op->error()),
              HasSubstr("all_to_all failed on rank 1 of group [0, 1, 2]: cudaEventQuery: CUDA "
                        "error 'an illegal memory access was encountered'"));
  EXPECT_EQ(c.aborts, 1);
}

TEST(NcclWatchdog, ItsThreadFailsALateOperationWithoutAnyoneAsking) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 2ms);
  FakeOp late("all_reduce", 10ms);
  dog.watch(late.op);
  for (int i = 0; i < 5000 && !late.op->settled(); ++i) std::this_thread::sleep_for(1ms);
  ASSERT_NE(late.op->error(), nullptr);
  EXPECT_TRUE(is<CommTimeoutError>(late.op->error()));
  EXPECT_EQ(c.aborts, 1);
}

TEST(NcclWatchdog, ItsThreadRunsTheStartHookFirst) {
  Counters c;
  auto hooks = c.hooks();
  std::atomic<int> started{0};
  hooks.thread_start = [&] { ++started; };
  {
    NcclWatchdog dog(kWhere, hooks, 1ms);
    for (int i = 0; i < 5000 && started == 0; ++i) std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(started, 1);
  NcclWatchdog no_thread(kWhere, hooks, 1ms, NcclErrorHandling::Raise, false);
  EXPECT_EQ(started, 1);
}

TEST(NcclWatchdog, OnlyTheFirstFailureCounts) {
  Counters c;
  NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  dog.fail(std::make_exception_ptr(CommError("first")));
  dog.fail(std::make_exception_ptr(CommError("second")));
  EXPECT_EQ(exception_message(dog.failure()), "first");
  EXPECT_EQ(c.aborts, 1);
}

TEST(NcclWatchdog, ANonPositiveIntervalIsRejectedNamingIt) {
  Counters c;
  EXPECT_THAT([&] { NcclWatchdog dog(kWhere, c.hooks(), 0ms); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("NcclWatchdog: interval must be > 0 ms, got 0 ms")));
}

TEST(NcclWatchdogDeathTest, TearDownEndsTheProcessWithTheFailure) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Counters c;
        NcclWatchdog dog(kWhere, c.hooks(), 10ms, NcclErrorHandling::TearDown, false);
        const auto t0 = DeadlineClock::now();
        FakeOp late("all_reduce", 5ms, t0);
        dog.watch(late.op);
        dog.check(t0 + 6ms);
      },
      ::testing::ExitedWithCode(1), "all_reduce timed out after 5 ms on rank 1 of group");
}

// NcclWork's host side: in blocking mode (and with a timeout) it never touches the GPU's
// events, so a fake operation shows what wait() does.
TEST(NcclWork, WaitRethrowsTheFailureTheWatchdogRecorded) {
  Counters c;
  auto dog =
      std::make_shared<NcclWatchdog>(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  const auto t0 = DeadlineClock::now();
  FakeOp late("all_reduce", 5ms, t0);
  dog->watch(late.op);
  NcclWork work(late.op, nullptr, dog, nullptr, false, kWhere);
  EXPECT_FALSE(work.is_completed());
  dog->check(t0 + 5ms);
  EXPECT_TRUE(work.is_completed());
  EXPECT_THROW(work.wait(), CommTimeoutError);
  EXPECT_THROW(work.wait(), CommTimeoutError);  // again, as the interface says
}

TEST(NcclWork, AWaitTimeoutFailsTheGroupAndAbortsTheCommunicator) {
  Counters c;
  auto dog =
      std::make_shared<NcclWatchdog>(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  FakeOp stuck("all_gather", 60000ms);
  FakeOp other("broadcast", 60000ms);
  dog->watch(stuck.op);
  dog->watch(other.op);
  NcclWork work(stuck.op, nullptr, dog, nullptr, false, kWhere);
  EXPECT_THAT([&] { work.wait(20ms); },
              ::testing::ThrowsMessage<CommTimeoutError>(
                  HasSubstr("all_gather: Work::wait timed out after 20 ms on rank 1 of group "
                            "[0, 1, 2]: ")));
  EXPECT_EQ(c.aborts, 1);
  ASSERT_NE(other.op->error(), nullptr);
  EXPECT_THAT(exception_message(other.op->error()), HasSubstr("broadcast failed on rank 1"));
}

TEST(NcclWork, ABlockingWaitReturnsOnceTheOperationIsDone) {
  Counters c;
  auto dog =
      std::make_shared<NcclWatchdog>(kWhere, c.hooks(), 10ms, NcclErrorHandling::Raise, false);
  FakeOp op("barrier", 60000ms);
  dog->watch(op.op);
  NcclWork work(op.op, nullptr, dog, nullptr, true, kWhere);
  std::thread finisher([&] {
    std::this_thread::sleep_for(5ms);
    *op.done = true;
  });
  work.wait();
  finisher.join();
  EXPECT_TRUE(work.is_completed());
  EXPECT_EQ(c.aborts, 0);
}

TEST(NcclWork, ANegativeWaitTimeoutIsRejected) {
  FakeOp op("all_reduce", 60000ms);
  NcclWork work(op.op, nullptr, {}, nullptr, false, kWhere);
  EXPECT_THAT([&] { work.wait(Milliseconds(-3)); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("Work::wait: timeout must be >= 0 ms, got -3 ms")));
}

}  // namespace
}  // namespace tensorpar::cuda
