#pragma once
// A set of published measurements kept as a CSV file (bench/data/*.csv): '#' lines state the
// source and the assumptions, the first other line names the columns, each further line is a
// row. Values hold no commas; an empty value is "not published".
//
//   # Source: Korthikanti et al. 2022, Table 5 ...
//   name,hardware,gpus,tp,...,metric,published
//   22B full recompute,a100-sxm4-80gb,8,8,...,iteration_s,1.42
//
//   PublishedSet s = read_published_set("bench/data/korthikanti_2022_22b.csv");
//   s.rows[0].text("hardware");       // "a100-sxm4-80gb"
//   s.rows[0].number("published");    // 1.42
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tensorpar::validation {

struct PublishedRow {
  std::string file;                           // for errors
  int line = 0;                               // 1-based line in the file
  std::map<std::string, std::string> values;  // by column name

  // std::invalid_argument naming the file, the line and the column when it is missing or empty,
  // or (number, integer) not a number: "f.csv:9: column 'gpus' is 'eight', not an integer".
  const std::string& text(const std::string& column) const;
  double number(const std::string& column) const;
  std::int64_t integer(const std::string& column) const;
  // Empty: not published. Errors as integer().
  std::optional<std::int64_t> optional_integer(const std::string& column) const;
};

struct PublishedSet {
  std::string file;
  std::vector<std::string> comments;  // the '#' lines, without the '#'
  std::vector<std::string> columns;
  std::vector<PublishedRow> rows;
};

// std::invalid_argument: the file cannot be read, has no header, or a row has another number of
// values than the header has columns (naming the file and line).
PublishedSet read_published_set(const std::string& path);

}  // namespace tensorpar::validation
