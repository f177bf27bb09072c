#include "tools/validation/published_set.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tensorpar::validation {
namespace {

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(line);
  while (std::getline(in, part, ',')) parts.push_back(part);
  if (!line.empty() && line.back() == ',') parts.emplace_back();
  return parts;
}

[[noreturn]] void fail(const PublishedRow& row, const std::string& what) {
  throw std::invalid_argument(row.file + ":" + std::to_string(row.line) + ": " + what);
}

}  // namespace

const std::string& PublishedRow::text(const std::string& column) const {
  const auto it = values.find(column);
  if (it == values.end()) fail(*this, "no column '" + column + "'");
  if (it->second.empty()) fail(*this, "column '" + column + "' is empty");
  return it->second;
}

double PublishedRow::number(const std::string& column) const {
  const std::string& v = text(column);
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(v.c_str(), &end);
  if (end != v.c_str() + v.size() || errno != 0) {
    fail(*this, "column '" + column + "' is '" + v + "', not a number");
  }
  return x;
}

std::int64_t PublishedRow::integer(const std::string& column) const {
  const std::string& v = text(column);
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (end != v.c_str() + v.size() || errno != 0) {
    fail(*this, "column '" + column + "' is '" + v + "', not an integer");
  }
  return x;
}

std::optional<std::int64_t> PublishedRow::optional_integer(const std::string& column) const {
  const auto it = values.find(column);
  if (it != values.end() && it->second.empty()) return std::nullopt;
  return integer(column);
}

PublishedSet read_published_set(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::invalid_argument("published set " + path +
                                ": cannot read it: " + std::strerror(errno));
  }
  PublishedSet set;
  set.file = path;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line.front() == '#') {
      set.comments.push_back(line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1));
      continue;
    }
    std::vector<std::string> parts = split_commas(line);
    if (set.columns.empty()) {
      set.columns = std::move(parts);
      continue;
    }
    PublishedRow row{path, number, {}};
    if (parts.size() != set.columns.size()) {
      fail(row, std::to_string(parts.size()) + " values for " + std::to_string(set.columns.size()) +
                    " columns");
    }
    for (std::size_t i = 0; i < parts.size(); ++i) row.values[set.columns[i]] = parts[i];
    set.rows.push_back(std::move(row));
  }
  if (set.columns.empty())
    throw std::invalid_argument("published set " + path + ": no header line");
  return set;
}

}  // namespace tensorpar::validation
