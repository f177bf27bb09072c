// Published measurement sets (bench/data/*.csv): comments, header, rows, typed values, and errors
// naming the file, line and column.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <stdexcept>

#include "support/temp_folder.h"
#include "tools/validation/published_set.h"

namespace tensorpar::validation {
namespace {

std::string write(const testing::TempFolder& folder, const std::string& text) {
  const std::string path = folder / "set.csv";
  std::ofstream(path) << text;
  return path;
}

void expect_error(const std::function<void()>& f, const std::string& message) {
  try {
    f();
    FAIL() << "no error; expected: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(PublishedSet, ReadsCommentsHeaderAndRowsWithTheirLines) {
  const testing::TempFolder folder;
  const std::string path = write(folder,
                                 "# Source: a paper, Table 1\n"
                                 "#no space\n"
                                 "name,gpus,micro_batch,published\n"
                                 "\n"
                                 "a,8,,1.42\n"
                                 "b,16,4,0.5\r\n");
  const PublishedSet s = read_published_set(path);
  EXPECT_EQ(s.comments, (std::vector<std::string>{"Source: a paper, Table 1", "no space"}));
  EXPECT_EQ(s.columns, (std::vector<std::string>{"name", "gpus", "micro_batch", "published"}));
  ASSERT_EQ(s.rows.size(), 2u);
  EXPECT_EQ(s.rows[0].line, 5);
  EXPECT_EQ(s.rows[0].text("name"), "a");
  EXPECT_EQ(s.rows[0].integer("gpus"), 8);
  EXPECT_EQ(s.rows[0].optional_integer("micro_batch"), std::nullopt);
  EXPECT_EQ(s.rows[0].number("published"), 1.42);
  EXPECT_EQ(s.rows[1].optional_integer("micro_batch"), 4);
  EXPECT_EQ(s.rows[1].number("published"), 0.5);
}

TEST(PublishedSet, ErrorsNameTheFileLineAndColumn) {
  const testing::TempFolder folder;
  const std::string path = write(folder, "name,gpus\nx,eight\ny,\n");
  const PublishedSet s = read_published_set(path);
  expect_error([&] { s.rows[0].integer("gpus"); },
               path + ":2: column 'gpus' is 'eight', not an integer");
  expect_error([&] { s.rows[0].number("gpus"); },
               path + ":2: column 'gpus' is 'eight', not a number");
  expect_error([&] { s.rows[1].integer("gpus"); }, path + ":3: column 'gpus' is empty");
  expect_error([&] { s.rows[1].text("tp"); }, path + ":3: no column 'tp'");
  expect_error([&] { read_published_set(write(folder, "a,b\n1,2,3\n")); },
               path + ":2: 3 values for 2 columns");
  expect_error([&] { read_published_set(write(folder, "# only a comment\n")); },
               "published set " + path + ": no header line");
  EXPECT_THROW(read_published_set(folder / "missing.csv"), std::invalid_argument);
}

}  // namespace
}  // namespace tensorpar::validation
