#include "core/checkpoint/index.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/checkpoint/file_io.h"
#include "core/checkpoint/safetensors.h"

namespace tensorpar::checkpoint {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kFormat = "tensorpar-checkpoint";
constexpr int kVersion = 1;
constexpr const char* kModelPrefix = "model.";

Json tensor_json(const TensorRecord& t) {
  Json shards = Json::array();
  for (const ShardRecord& s : t.shards) {
    shards.push_back({{"file", s.file},
                      {"rank", s.rank},
                      {"offsets", s.offsets},
                      {"sizes", s.sizes},
                      {"byte_range", {s.begin, s.end}}});
  }
  return {
      {"dtype", safetensors_dtype(t.dtype)},
      {"shape", t.shape},
      {"mesh", {{"shape", t.mesh_shape}, {"ranks", t.mesh_ranks}, {"dim_names", t.mesh_dim_names}}},
      {"placements", t.placements},
      {"shards", shards}};
}

TensorRecord tensor_from_json(const std::string& name, const Json& j, const std::string& where) {
  TensorRecord t;
  t.name = name;
  t.dtype = parse_safetensors_dtype(j.at("dtype").get<std::string>(), where);
  t.shape = j.at("shape").get<Shape>();
  const Json& mesh = j.at("mesh");
  t.mesh_shape = mesh.at("shape").get<Shape>();
  t.mesh_ranks = mesh.at("ranks").get<std::vector<int>>();
  t.mesh_dim_names = mesh.at("dim_names").get<std::vector<std::string>>();
  t.placements = j.at("placements").get<std::vector<std::string>>();
  for (const Json& s : j.at("shards")) {
    ShardRecord r;
    r.file = s.at("file").get<std::string>();
    r.rank = s.at("rank").get<int>();
    r.offsets = s.at("offsets").get<Shape>();
    r.sizes = s.at("sizes").get<Shape>();
    const auto range = s.at("byte_range").get<std::vector<std::uint64_t>>();
    check_state(range.size() == 2, where, ": byte_range must hold 2 numbers");
    r.begin = range[0];
    r.end = range[1];
    check_state(r.offsets.size() == t.shape.size() && r.sizes.size() == t.shape.size(), where,
                ": a shard's offsets ", shape_text(r.offsets), " and sizes ", shape_text(r.sizes),
                " do not match the tensor's rank ", t.shape.size());
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      check_state(r.offsets[d] >= 0 && r.sizes[d] >= 0 && r.offsets[d] + r.sizes[d] <= t.shape[d],
                  where, ": shard at offsets ", shape_text(r.offsets), " with sizes ",
                  shape_text(r.sizes), " lies outside the shape ", shape_text(t.shape));
    }
    check_state(r.begin <= r.end && r.end - r.begin == static_cast<std::uint64_t>(numel(r.sizes)) *
                                                           dtype_size(t.dtype),
                where, ": shard in '", r.file, "' has byte_range [", r.begin, ", ", r.end,
                "], which does not hold sizes ", shape_text(r.sizes), " of ",
                safetensors_dtype(t.dtype));
    t.shards.push_back(std::move(r));
  }
  return t;
}

CheckpointIndex lone_file_index(const std::string& path) {
  const SafetensorsHeader header = read_safetensors_header(path);
  CheckpointIndex index;
  index.weights_only = true;
  for (const SafetensorsEntry& e : header.entries) {
    TensorRecord t;
    t.name = kModelPrefix + e.name;
    t.dtype = e.dtype;
    t.shape = e.shape;
    t.shards.push_back(ShardRecord{path, 0, Shape(e.shape.size(), 0), e.shape,
                                   header.data_start + e.begin, header.data_start + e.end});
    index.tensors.push_back(std::move(t));
  }
  return index;
}

}  // namespace

const TensorRecord* CheckpointIndex::find(const std::string& name) const {
  for (const TensorRecord& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::uint64_t CheckpointIndex::data_bytes() const {
  std::uint64_t n = 0;
  for (const TensorRecord& t : tensors) {
    for (const ShardRecord& s : t.shards) n += s.end - s.begin;
  }
  return n;
}

std::string index_to_json(const CheckpointIndex& index) {
  Json tensors = Json::object();
  for (const TensorRecord& t : index.tensors) tensors[t.name] = tensor_json(t);
  Json counters = Json::object();
  for (const auto& [fqn, values] : index.optimizer_counters) counters[fqn] = values;
  Json j = {{"format", kFormat},
            {"version", kVersion},
            {"generation", index.generation},
            {"world", index.world},
            {"training",
             {{"step", index.training.step},
              {"rng", {{"seed", index.training.rng_seed}, {"offset", index.training.rng_offset}}},
              {"extra", index.training.extra}}},
            {"optimizer", {{"type", index.optimizer}, {"counters", counters}}},
            {"tensors", tensors}};
  return j.dump(1) + "\n";
}

CheckpointIndex index_from_json(const std::string& text, const std::string& where) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(cat(where, ": corrupted index (not JSON: ", e.what(), ")"));
  }
  CheckpointIndex index;
  std::string current = where;
  try {
    check_state(j.is_object() && j.value("format", "") == kFormat, where,
                ": not a tensorpar checkpoint index (no \"format\": \"", kFormat, "\")");
    const int version = j.at("version").get<int>();
    check_state(version == kVersion, where, ": index version ", version,
                " (this build reads version ", kVersion, ")");
    index.generation = j.at("generation").get<std::int64_t>();
    index.world = j.at("world").get<int>();
    const Json& training = j.at("training");
    index.training.step = training.at("step").get<std::int64_t>();
    index.training.rng_seed = training.at("rng").at("seed").get<std::uint64_t>();
    index.training.rng_offset = training.at("rng").at("offset").get<std::uint64_t>();
    index.training.extra = training.at("extra").get<std::map<std::string, std::string>>();
    const Json& optimizer = j.at("optimizer");
    index.optimizer = optimizer.at("type").get<std::string>();
    index.optimizer_counters =
        optimizer.at("counters").get<std::map<std::string, std::map<std::string, std::int64_t>>>();
    for (const auto& [name, value] : j.at("tensors").items()) {
      current = cat(where, ": tensor '", name, "'");
      index.tensors.push_back(tensor_from_json(name, value, current));
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(cat(current, ": corrupted index (", e.what(), ")"));
  }
  return index;
}

CheckpointIndex read_checkpoint_index(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(path)) return lone_file_index(path);
  check_arg(fs::is_directory(path), "checkpoint '", path,
            "' is neither a folder nor a .safetensors file");
  const std::string index_path = (fs::path(path) / kIndexFile).string();
  check_arg(fs::is_regular_file(index_path), "checkpoint '", path, "' has no ", kIndexFile,
            " (no complete save in this folder)");
  CheckpointIndex index = index_from_json(read_small_file(index_path), index_path);
  index.folder = path;
  return index;
}

std::string shard_path(const CheckpointIndex& index, const ShardRecord& shard) {
  if (index.folder.empty()) return shard.file;
  return (std::filesystem::path(index.folder) / shard.file).string();
}

}  // namespace tensorpar::checkpoint
