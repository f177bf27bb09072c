#pragma once
// A small JSON reader for the `tensorpar` reports, enough to check their structure.
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace tensorpar::cli_testing {

struct Value {
  using Object = std::map<std::string, Value>;
  using Array = std::vector<Value>;
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<Array>,
               std::shared_ptr<Object>>
      v;
  bool is_null() const { return std::holds_alternative<std::nullptr_t>(v); }
  bool is_number() const { return std::holds_alternative<double>(v); }
  bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(v); }
  double num() const { return std::get<double>(v); }
  bool boolean() const { return std::get<bool>(v); }
  const std::string& str() const { return std::get<std::string>(v); }
  const Array& arr() const { return *std::get<std::shared_ptr<Array>>(v); }
  const Object& obj() const { return *std::get<std::shared_ptr<Object>>(v); }
  const Value& operator[](const std::string& key) const { return obj().at(key); }
  bool has(const std::string& key) const { return obj().count(key) > 0; }
};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}
  // Throws std::runtime_error on anything but exactly one JSON value (and white space).
  Value parse() {
    Value v = value();
    skip();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string(what) + " at offset " + std::to_string(i_));
  }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail("unexpected character");
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') {
        ++i_;
        if (i_ >= s_.size()) fail("bad escape");
        if (s_[i_] == 'u')
          i_ += 4;  // kept out of the text; not needed by these checks
        else
          out += s_[i_] == 'n' ? '\n' : s_[i_] == 't' ? '\t' : s_[i_];
        ++i_;
      } else {
        out += s_[i_++];
      }
    }
    expect('"');
    return out;
  }
  Value value() {
    skip();
    if (i_ >= s_.size()) fail("unexpected end");
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      auto o = std::make_shared<Value::Object>();
      if (!eat('}')) {
        do {
          std::string key = string();
          expect(':');
          (*o)[key] = value();
        } while (eat(','));
        expect('}');
      }
      return {o};
    }
    if (c == '[') {
      ++i_;
      auto a = std::make_shared<Value::Array>();
      if (!eat(']')) {
        do a->push_back(value());
        while (eat(','));
        expect(']');
      }
      return {a};
    }
    if (c == '"') return {string()};
    for (const auto& [word, val] :
         {std::pair<const char*, Value>{"true", {true}}, {"false", {false}}, {"null", {nullptr}}}) {
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        return val;
      }
    }
    std::size_t used = 0;
    double d = 0;
    try {
      d = std::stod(s_.substr(i_, 40), &used);
    } catch (const std::exception&) {
      fail("bad value");
    }
    i_ += used;
    return {d};
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

inline Value parse_json(const std::string& text) { return Parser(text).parse(); }

}  // namespace tensorpar::cli_testing
