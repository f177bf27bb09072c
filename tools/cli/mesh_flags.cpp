#include "tools/cli/mesh_flags.h"

#include <limits>
#include <set>
#include <stdexcept>

#include "core/base/error.h"
#include "tools/cli/args.h"

namespace tensorpar::cli {

namespace {

Shape parse_or_usage(const std::string& text, const std::string& flag) {
  try {
    return parse_shape(text, flag);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

}  // namespace

MeshFlags parse_mesh_flags(const std::string& mesh, const std::optional<std::string>& names,
                           std::int64_t max_ranks) {
  MeshFlags out;
  out.mesh = parse_or_usage(mesh, "--mesh");
  std::int64_t ranks = 1;
  for (const std::int64_t extent : out.mesh) {
    if (extent < 1) {
      throw UsageError(cat("--mesh ", mesh, ": every mesh dim needs at least one rank"));
    }
    // extent <= max_ranks and ranks <= max_ranks keep the product far from overflow.
    if (extent > max_ranks || (ranks *= extent) > max_ranks) {
      throw UsageError(cat("--mesh ", mesh, " has more than ", max_ranks,
                           " ranks; the simulated backend here runs 1 to ", max_ranks));
    }
  }
  if (!names) return out;
  out.names = split_list(*names);
  if (out.names.size() != out.mesh.size()) {
    throw UsageError(cat("--names '", *names, "' gives ", out.names.size(), " name",
                         out.names.size() == 1 ? "" : "s", " for the ", out.mesh.size(),
                         " dim", out.mesh.size() == 1 ? "" : "s", " of --mesh ", mesh));
  }
  std::set<std::string> seen;
  for (std::size_t d = 0; d < out.names.size(); ++d) {
    if (out.names[d].empty()) {
      throw UsageError(cat("--names '", *names, "': mesh dim ", d, " has an empty name"));
    }
    if (!seen.insert(out.names[d]).second) {
      throw UsageError(cat("--names '", *names, "': '", out.names[d],
                           "' names two mesh dims (each name must be unique)"));
    }
  }
  return out;
}

DataTensorMesh parse_data_tensor_mesh(const std::string& text, int max_ranks) {
  const std::string flag = "--mesh '" + text + "'";
  DataTensorMesh out;
  std::set<std::string> seen;
  const std::vector<std::string> entries = split_list(text);
  if (text.empty() || entries.empty()) {
    throw UsageError(flag + ": give the degrees as dp=D,tp=T");
  }
  for (const std::string& entry : entries) {
    const std::size_t eq = entry.find('=');
    if (eq == std::string::npos) {
      throw UsageError(cat(flag, ": '", entry, "' is not name=degree (e.g. dp=2,tp=2)"));
    }
    const std::string name = entry.substr(0, eq), value = entry.substr(eq + 1);
    if (name != "dp" && name != "tp") {
      throw UsageError(cat(flag, ": unknown mesh dim '", name, "' (train's mesh dims are dp and tp)"));
    }
    if (!seen.insert(name).second) throw UsageError(cat(flag, ": '", name, "' is given twice"));
    long long degree = 0;
    std::size_t used = 0;
    try {
      degree = std::stoll(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value.size() || value[0] == '+' || value[0] == '-' || degree < 1 ||
        degree > max_ranks) {
      throw UsageError(
          cat(flag, ": ", name, " needs a degree from 1 to ", max_ranks, ", got '", value, "'"));
    }
    (name == "dp" ? out.dp : out.tp) = static_cast<int>(degree);
  }
  if (out.ranks() > max_ranks) {
    throw UsageError(cat(flag, " has ", out.ranks(), " ranks; at most ", max_ranks));
  }
  return out;
}

Shape parse_shape_flag(const std::string& text, const std::string& flag) {
  Shape shape = parse_or_usage(text, flag);
  std::int64_t elements = 1;
  for (const std::int64_t extent : shape) {
    if (extent != 0 && elements > std::numeric_limits<std::int64_t>::max() / extent) {
      // Refused even when a later extent is 0: the extents themselves are past any use.
      throw UsageError(cat(flag, " ", text, " has more elements than a tensor can index"));
    }
    elements *= extent;
  }
  return shape;
}

}  // namespace tensorpar::cli
