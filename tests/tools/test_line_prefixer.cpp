// LinePrefixer: a worker's output handed over in whole lines, however the bytes arrive.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/cli/line_prefixer.h"

namespace tensorpar::cli {
namespace {

std::vector<std::string> lines_of(const std::vector<std::string>& chunks) {
  std::vector<std::string> lines;
  LinePrefixer p([&](std::string_view l) { lines.emplace_back(l); });
  for (const auto& c : chunks) p.feed(c);
  p.finish();
  return lines;
}

TEST(LinePrefixer, JoinsLinesSplitAcrossReads) {
  EXPECT_EQ(lines_of({"loss 1.5\nst", "ep ", "2\n"}),
            (std::vector<std::string>{"loss 1.5", "step 2"}));
}

TEST(LinePrefixer, SplitsSeveralLinesOfOneRead) {
  EXPECT_EQ(lines_of({"a\nb\n\nc\n"}), (std::vector<std::string>{"a", "b", "", "c"}));
}

TEST(LinePrefixer, ALastLineWithoutNewlineIsEmittedAtTheEnd) {
  EXPECT_EQ(lines_of({"done", "!"}), (std::vector<std::string>{"done!"}));
  EXPECT_TRUE(lines_of({}).empty());
}

}  // namespace
}  // namespace tensorpar::cli
