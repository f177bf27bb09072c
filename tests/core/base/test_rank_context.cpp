// RankContext: slots made on first use and destroyed with their context, one default context per
// thread, and guards that hand a context to another thread and restore the previous one.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/base/rank_context.h"

namespace tensorpar {
namespace {

// Records its construction and destruction in a log owned by the test.
struct Logged {
  static inline std::vector<std::string>* log = nullptr;
  static inline int next_id = 0;
  int id = next_id++;
  Logged() {
    if (log) log->push_back("make " + std::to_string(id));
  }
  ~Logged() {
    if (log) log->push_back("destroy " + std::to_string(id));
  }
};
struct Counter {
  int value = 0;
};
struct Other {
  int value = 0;
};

const auto kLogged = RankContext::add_slot<Logged>();
const auto kCounter = RankContext::add_slot<Counter>();
const auto kOther = RankContext::add_slot<Other>();

class RankContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Logged::log = &log_;
    Logged::next_id = 0;
  }
  void TearDown() override { Logged::log = nullptr; }
  std::vector<std::string> log_;
};

TEST_F(RankContextTest, SlotIsMadeOnFirstUseAndDestroyedWithItsContext) {
  auto context = RankContext::create();
  EXPECT_EQ(context->made_slots(), 0u);
  EXPECT_EQ(context->find(kLogged), nullptr);
  EXPECT_TRUE(log_.empty());

  Logged& first = context->get(kLogged);
  EXPECT_EQ(&context->get(kLogged), &first);  // made once
  EXPECT_EQ(context->find(kLogged), &first);
  EXPECT_EQ(context->made_slots(), 1u);
  EXPECT_EQ(log_, (std::vector<std::string>{"make 0"}));

  context.reset();
  EXPECT_EQ(log_, (std::vector<std::string>{"make 0", "destroy 0"}));
}

TEST_F(RankContextTest, StateIsDestroyedLastMadeFirst) {
  struct Second : Logged {};
  static const auto kSecond = RankContext::add_slot<Second>();
  auto context = RankContext::create();
  context->get(kLogged);
  context->get(kSecond);
  context.reset();
  EXPECT_EQ(log_, (std::vector<std::string>{"make 0", "make 1", "destroy 1", "destroy 0"}));
}

TEST_F(RankContextTest, EachContextHasItsOwnState) {
  auto a = RankContext::create();
  auto b = RankContext::create();
  a->get(kCounter).value = 3;
  EXPECT_EQ(b->get(kCounter).value, 0);
  EXPECT_EQ(b->find(kOther), nullptr);  // making one slot makes no other
  EXPECT_EQ(a->made_slots(), 1u);
}

TEST_F(RankContextTest, FreshThreadGetsADefaultContextOfItsOwn) {
  RankContext::current().get(kCounter).value = 7;
  RankContext* main_context = &RankContext::current();
  RankContext* thread_context = nullptr;
  int seen = -1;
  std::thread([&] {
    thread_context = &RankContext::current();
    seen = RankContext::current().get(kCounter).value;
    EXPECT_EQ(&RankContext::current(), thread_context);  // the same one on every call
  }).join();
  EXPECT_NE(thread_context, main_context);
  EXPECT_EQ(seen, 0);
  EXPECT_EQ(RankContext::current().get(kCounter).value, 7);
  RankContext::current().get(kCounter).value = 0;
}

TEST_F(RankContextTest, ThreadDefaultContextIsDestroyedWhenTheThreadExits) {
  std::thread([] { RankContext::current().get(kLogged); }).join();
  EXPECT_EQ(log_, (std::vector<std::string>{"make 0", "destroy 0"}));
}

TEST_F(RankContextTest, GuardInstallsAContextAndRestoresThePreviousOne) {
  RankContext* outer = &RankContext::current();
  auto a = RankContext::create();
  auto b = RankContext::create();
  a->get(kCounter).value = 1;
  b->get(kCounter).value = 2;
  {
    RankContextGuard in_a(a);
    EXPECT_EQ(&RankContext::current(), a.get());
    EXPECT_EQ(RankContext::current().get(kCounter).value, 1);
    {
      RankContextGuard in_b(b);
      EXPECT_EQ(RankContext::current().get(kCounter).value, 2);
      RankContext::current().get(kCounter).value = 20;
    }
    EXPECT_EQ(&RankContext::current(), a.get());
    EXPECT_EQ(RankContext::current().get(kCounter).value, 1);
  }
  EXPECT_EQ(&RankContext::current(), outer);
  EXPECT_EQ(b->get(kCounter).value, 20);
}

TEST_F(RankContextTest, GuardOnAFreshThreadRestoresItsDefault) {
  auto rank = RankContext::create();
  std::thread([&] {
    {
      RankContextGuard guard(rank);
      EXPECT_EQ(&RankContext::current(), rank.get());
    }
    EXPECT_NE(&RankContext::current(), rank.get());
    EXPECT_EQ(RankContext::current().get(kCounter).value, 0);
  }).join();
}

TEST_F(RankContextTest, HelperHandedTheContextSharesItsState) {
  auto rank = RankContext::create();
  RankContextGuard as_rank(rank);
  RankContext::current().get(kCounter).value = 5;
  std::shared_ptr<RankContext> captured = RankContext::capture();
  EXPECT_EQ(captured, rank);
  std::thread([captured] {
    RankContextGuard guard(captured);
    EXPECT_EQ(RankContext::current().get(kCounter).value, 5);
    RankContext::current().get(kCounter).value = 6;
  }).join();
  EXPECT_EQ(RankContext::current().get(kCounter).value, 6);
}

TEST_F(RankContextTest, ContextOutlivesTheThreadThatMadeItWhileCaptured) {
  std::shared_ptr<RankContext> captured;
  std::thread([&] {
    RankContext::current().get(kLogged);
    captured = RankContext::capture();
  }).join();
  EXPECT_EQ(log_, (std::vector<std::string>{"make 0"}));  // the thread exited; the state lives
  captured.reset();
  EXPECT_EQ(log_, (std::vector<std::string>{"make 0", "destroy 0"}));
}

TEST_F(RankContextTest, GuardRejectsANullContext) {
  try {
    RankContextGuard guard(nullptr);
    FAIL() << "a null context was installed";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "RankContextGuard: context must not be null");
  }
}

}  // namespace
}  // namespace tensorpar
