#include "tools/cli/json.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace tensorpar::cli {

Json& Json::push(Json value) {
  std::get<Array>(value_).push_back(std::move(value));
  return *this;
}

Json& Json::set(const std::string& key, Json value) {
  std::get<Object>(value_).emplace_back(key, std::move(value));
  return *this;
}

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string Json::str() const {
  struct Printer {
    std::string operator()(std::nullptr_t) const { return "null"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      if (!std::isfinite(d)) return "null";
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", d);
      return buf;
    }
    std::string operator()(const std::string& s) const { return quote(s); }
    std::string operator()(const Array& a) const {
      std::string out = "[";
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out += ',';
        out += a[i].str();
      }
      return out + "]";
    }
    std::string operator()(const Object& o) const {
      std::string out = "{";
      for (std::size_t i = 0; i < o.size(); ++i) {
        if (i > 0) out += ',';
        out += quote(o[i].first);
        out += ':';
        out += o[i].second.str();
      }
      return out + "}";
    }
  };
  return std::visit(Printer{}, value_);
}

}  // namespace tensorpar::cli
