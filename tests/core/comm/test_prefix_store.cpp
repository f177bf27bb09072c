// PrefixStore: a namespace over another store.
#include <gtest/gtest.h>

#include <memory>

#include "core/comm/hash_store.h"
#include "core/comm/prefix_store.h"
#include "support/expect_error.h"

namespace tensorpar {
namespace {

using namespace std::chrono_literals;
using testing::expect_error;

TEST(PrefixStore, KeysLandUnderThePrefixInTheBaseStore) {
  auto base = std::make_shared<HashStore>();
  PrefixStore tp("tp", base);
  tp.set("addr/0", std::string("x"));
  EXPECT_TRUE(base->check({"tp/addr/0"}));
  EXPECT_FALSE(base->check({"addr/0"}));
  EXPECT_EQ(tp.get_string("addr/0"), "x");
  EXPECT_EQ(tp.add("n", 2), 2);
  EXPECT_EQ(base->get_string("tp/n"), "2");
}

TEST(PrefixStore, TwoPrefixesOverOneStoreDoNotCollide) {
  auto base = std::make_shared<HashStore>();
  PrefixStore a("a", base), b("b", base);
  a.set("k", std::string("1"));
  b.set("k", std::string("2"));
  EXPECT_EQ(a.get_string("k"), "1");
  EXPECT_EQ(b.get_string("k"), "2");
  EXPECT_TRUE(a.delete_key("k"));
  EXPECT_FALSE(a.check({"k"}));
  EXPECT_TRUE(b.check({"k"}));
  EXPECT_EQ(a.num_keys(), 1);  // the base store's count, as c10d answers
}

TEST(PrefixStore, NestedPrefixesCompose) {
  auto base = std::make_shared<HashStore>();
  auto outer = std::make_shared<PrefixStore>("job", base);
  PrefixStore inner("tp", outer);
  inner.set("x", std::string("v"));
  EXPECT_TRUE(base->check({"job/tp/x"}));
}

TEST(PrefixStore, CompareSetSeesOnlyItsNamespace) {
  auto base = std::make_shared<HashStore>();
  PrefixStore p("p", base);
  const StoreBytes one{'1'}, two{'2'};
  EXPECT_EQ(p.compare_set("k", {}, one), one);
  EXPECT_EQ(p.compare_set("k", two, two), one);  // mismatch: the current value
  EXPECT_EQ(p.compare_set("k", one, two), two);
  EXPECT_EQ(base->get("p/k"), two);
}

TEST(PrefixStore, WaitTimesOutNamingThePrefixedKeys) {
  auto base = std::make_shared<HashStore>(10s);
  PrefixStore p("grp", base);
  p.set_timeout(50ms);
  expect_error<StoreTimeoutError>([&] { p.wait({"a", "b"}, 30ms); }, "\"grp/a\", \"grp/b\"");
  // get() obeys the PrefixStore's timeout, not the base's 10 s.
  const auto start = std::chrono::steady_clock::now();
  expect_error<StoreTimeoutError>([&] { p.get("missing"); }, "\"grp/missing\"");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(PrefixStore, BadArgumentsAreNamed) {
  auto base = std::make_shared<HashStore>();
  expect_error<std::invalid_argument>([&] { PrefixStore("", base); }, "prefix must not be empty");
  expect_error<std::invalid_argument>([&] { PrefixStore("x", nullptr); }, "must not be null");
}

}  // namespace
}  // namespace tensorpar
