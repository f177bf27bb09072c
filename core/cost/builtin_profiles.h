#pragma once
// The built-in hardware profiles: the texts of core/cost/profiles/*.json, embedded at build time
// (core/cost/embed_profiles.cmake writes the .cpp that defines these), named by file stem.
#include <cstddef>

namespace tensorpar::cost::detail {

struct BuiltinProfile {
  const char* name;  // "h100-sxm" for profiles/h100-sxm.json
  const char* text;  // the file's JSON
};

extern const BuiltinProfile kBuiltinProfiles[];
extern const std::size_t kBuiltinProfileCount;

}  // namespace tensorpar::cost::detail
