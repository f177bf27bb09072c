#include "styles/parallelize_module.h"

#include "core/base/error.h"
#include "core/base/warning.h"
#include "styles/style_util.h"

namespace tensorpar {

namespace {

std::vector<std::string> split_fqn(const std::string& key) {
  std::vector<std::string> tokens;
  std::string::size_type start = 0;
  while (true) {
    auto dot = key.find('.', start);
    tokens.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return tokens;
}

void check_tp_mesh(const DeviceMesh& mesh) {
  check_arg(mesh.valid(), "parallelize_module: the device mesh is an empty handle");
  check_arg(mesh.ndim() == 1, "Tensor Parallel only accepts a 1D DeviceMesh, but found ",
            mesh.ndim(), "D! If you have a 2-D or N-D device_mesh, consider passing in "
            "device_mesh[\"tp\"] (mesh ", mesh.str(), ")");
}

// Labels every module under `root` with its FQN relative to root, for CommDebugMode. The root
// keeps its label (collectives outside labelled children count under "").
void label_modules(nn::Module& root) {
  for (auto& [name, m] : root.named_modules()) {
    if (!name.empty()) m->set_comm_label(name);
  }
}

void apply_style(nn::Module& module, const DeviceMesh& mesh, ParallelStyle& style,
                 std::optional<int> src_data_rank) {
  style.src_data_rank = src_data_rank;
  style.apply(module, mesh);
}

// Follows tokens[i..] from `module`; applies the style to every module the whole key reaches.
void apply_key(nn::Module& module, const std::vector<std::string>& tokens, std::size_t i,
               const PlanEntry& entry, const DeviceMesh& mesh, std::optional<int> src) {
  bool matched = false;
  for (const auto& [name, child] : module.named_children()) {
    if (!fnmatch(name, tokens[i])) continue;
    matched = true;
    if (i + 1 < tokens.size()) {
      apply_key(*child, tokens, i + 1, entry, mesh, src);
    } else {
      apply_style(*child, mesh, *entry.style, src);
    }
  }
  if (!matched) {
    warn(cat("Parallelize plan key '", entry.key,
             "' could not be resolved: no submodule matching token '", tokens[i], "' in module ",
             module.type_name(), module.comm_label().empty() ? "" : " '" + module.comm_label() + "'",
             ", skipping this plan entry."));
  }
}

}  // namespace

PlanEntry::PlanEntry(std::string key_, ParallelStylePtr style_)
    : key(std::move(key_)), style(std::move(style_)) {
  check_arg(style != nullptr, "parallelize_module: plan key '", key, "' has a null style");
}

nn::Module& parallelize_module(nn::Module& module, const DeviceMesh& mesh,
                               const ParallelStylePtr& style, std::optional<int> src_data_rank) {
  check_tp_mesh(mesh);
  check_arg(style != nullptr, "parallelize_module: the parallelize_plan style is null");
  styles_detail::ParameterMemo memo;
  label_modules(module);
  apply_style(module, mesh, *style, src_data_rank);
  return module;
}

nn::Module& parallelize_module(nn::Module& module, const DeviceMesh& mesh,
                               const ParallelizePlan& plan, std::optional<int> src_data_rank) {
  check_tp_mesh(mesh);
  if (plan.empty()) {
    warn("parallelize_module: the parallelize_plan is empty, so this call does nothing.");
    return module;
  }
  styles_detail::ParameterMemo memo;
  label_modules(module);
  for (const PlanEntry& entry : plan) {
    if (entry.key.empty()) {
      apply_style(module, mesh, *entry.style, src_data_rank);
    } else {
      apply_key(module, split_fqn(entry.key), 0, entry, mesh, src_data_rank);
    }
  }
  return module;
}

nn::Module& parallelize_module(nn::Module& module, const DeviceMesh& mesh) {
  check_tp_mesh(mesh);
  warn("No parallelize_plan is provided and auto-parallel is not supported at the moment, so "
       "this parallelize_module call will do nothing.");
  return module;
}

nn::Module& parallelize_module(nn::Module& module, const ParallelizePlan& plan,
                               std::optional<int> src_data_rank) {
  return parallelize_module(module, current_mesh(), plan, src_data_rank);
}

nn::Module& parallelize_module(nn::Module& module, const ParallelStylePtr& style,
                               std::optional<int> src_data_rank) {
  return parallelize_module(module, current_mesh(), style, src_data_rank);
}

// Python's fnmatch.fnmatchcase on one token.
bool fnmatch(const std::string& name, const std::string& pattern) {
  // Iterative glob matching with backtracking to the last '*'.
  std::size_t n = 0, p = 0, star_p = std::string::npos, star_n = 0;
  auto class_match = [&](std::size_t pi, char c, std::size_t* end) -> std::optional<bool> {
    // pattern[pi] == '['; returns nullopt when the class is not closed (then '[' is literal).
    std::size_t j = pi + 1;
    bool negate = false;
    if (j < pattern.size() && pattern[j] == '!') {
      negate = true;
      ++j;
    }
    bool found = false;
    bool first = true;
    while (j < pattern.size() && (first || pattern[j] != ']')) {
      first = false;
      if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
        if (pattern[j] <= c && c <= pattern[j + 2]) found = true;
        j += 3;
      } else {
        if (pattern[j] == c) found = true;
        ++j;
      }
    }
    if (j >= pattern.size()) return std::nullopt;
    *end = j + 1;
    return found != negate;
  };
  while (n < name.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star_p = p++;
        star_n = n;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++n;
        continue;
      }
      if (pc == '[') {
        std::size_t end = 0;
        auto m = class_match(p, name[n], &end);
        if (m.has_value()) {
          if (*m) {
            p = end;
            ++n;
            continue;
          }
        } else if (name[n] == '[') {
          ++p;
          ++n;
          continue;
        }
      } else if (pc == name[n]) {
        ++p;
        ++n;
        continue;
      }
    }
    if (star_p == std::string::npos) return false;
    p = star_p + 1;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace tensorpar
