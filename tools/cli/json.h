#pragma once
// A minimal JSON writer for the --json outputs: values are built as nested Json nodes and
// printed compactly with str().
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tensorpar::cli {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // insertion order kept

  Json() : value_(nullptr) {}
  Json(std::nullptr_t) : value_(nullptr) {}
  Json(bool b) : value_(b) {}
  Json(int i) : value_(static_cast<std::int64_t>(i)) {}
  Json(std::int64_t i) : value_(i) {}
  Json(double d) : value_(d) {}
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  Json(Array a) : value_(std::move(a)) {}
  Json(Object o) : value_(std::move(o)) {}

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }
  // Appends to an array.
  Json& push(Json value);
  // Adds a member to an object.
  Json& set(const std::string& key, Json value);

  std::string str() const;

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> value_;
};

// A JSON array of integers, e.g. a shape.
template <class Ints>
Json json_ints(const Ints& values) {
  Json out = Json::array();
  for (auto v : values) out.push(static_cast<std::int64_t>(v));
  return out;
}

}  // namespace tensorpar::cli
