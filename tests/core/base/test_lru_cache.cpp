#include <gtest/gtest.h>

#include <string>

#include "core/base/lru_cache.h"

namespace tensorpar {
namespace {

TEST(LruCache, DropsTheLeastRecentlyUsedEntryWhenFull) {
  LruCache<std::string, int> cache(2);
  cache.insert("a", 1);
  cache.insert("b", 2);
  ASSERT_NE(cache.find("a"), nullptr);  // "a" is now the most recently used
  cache.insert("c", 3);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find("b"), nullptr);
  ASSERT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(*cache.find("a"), 1);
  EXPECT_EQ(*cache.find("c"), 3);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find("a"), nullptr);
}

}  // namespace
}  // namespace tensorpar
