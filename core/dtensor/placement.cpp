#include "core/dtensor/placement.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/base/error.h"

namespace tensorpar {

std::int64_t Placement::dim() const {
  check_arg(is_shard(), "Placement::dim: ", str(), " is not a Shard");
  return dim_;
}

ReduceOp Placement::reduce_op() const {
  check_arg(is_partial(), "Placement::reduce_op: ", str(), " is not a Partial");
  return op_;
}

std::string Placement::str() const {
  switch (kind_) {
    case Kind::Shard: return cat("S(", dim_, ")");
    case Kind::Replicate: return "R";
    case Kind::Partial: return cat("P(", reduce_op_name(op_), ")");
  }
  return "?";
}

std::uint32_t Placement::key() const {
  std::uint32_t k = static_cast<std::uint32_t>(kind_);
  if (kind_ == Kind::Shard) k |= static_cast<std::uint32_t>(dim_ + 128) << 8;
  if (kind_ == Kind::Partial) k |= static_cast<std::uint32_t>(op_) << 8;
  return k;
}

std::string placements_str(const Placements& placements) {
  std::string out = "[";
  for (std::size_t i = 0; i < placements.size(); ++i) {
    if (i) out += ", ";
    out += placements[i].str();
  }
  return out + "]";
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "(x)" -> "x" and "x" -> "x"; false for unbalanced parentheses.
bool strip_parens(std::string_view s, std::string_view& inner) {
  if (!s.empty() && s.front() == '(' && s.back() == ')') {
    inner = trim(s.substr(1, s.size() - 2));
    return true;
  }
  inner = s;
  return s.find_first_of("()") == std::string_view::npos;
}

}  // namespace

Placement parse_placement(std::string_view text) {
  std::string_view s = trim(text);
  auto bad = [&]() {
    return std::invalid_argument(
        cat("invalid placement '", text, "': expected R, S<dim>, S(<dim>), P or P(<op>)"));
  };
  if (s.empty()) throw bad();
  char head = static_cast<char>(std::toupper(static_cast<unsigned char>(s.front())));
  std::string_view rest;
  if (!strip_parens(trim(s.substr(1)), rest)) throw bad();
  if (head == 'R' && rest.empty()) return Replicate();
  if (head == 'S') {
    std::int64_t dim = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), dim);
    if (rest.empty() || ec != std::errc() || ptr != rest.data() + rest.size()) throw bad();
    return Shard(dim);
  }
  if (head == 'P') {
    if (rest.empty()) return Partial();
    try {
      return Partial(parse_reduce_op(rest));
    } catch (const std::invalid_argument&) {
      throw bad();
    }
  }
  throw bad();
}

Placements parse_placements(std::string_view text) {
  Placements out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] == '(') ++depth;
    if (i < text.size() && text[i] == ')') --depth;
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      out.push_back(parse_placement(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

ChunkExtent chunk_extent(std::int64_t size, std::int64_t num_chunks, std::int64_t index) {
  check_arg(size >= 0 && num_chunks > 0 && index >= 0 && index < num_chunks,
            "chunk_extent: invalid size ", size, ", num_chunks ", num_chunks, ", index ", index);
  const std::int64_t full = padded_chunk_size(size, num_chunks);
  const std::int64_t start = full * index;
  if (start >= size) return {0, size};
  return {std::min(size, start + full) - start, start};
}

}  // namespace tensorpar
