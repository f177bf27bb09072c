// save_checkpoint and TrainingState (checkpoint.h): the ranks agree on who writes which shard,
// write their files, and rank 0 writes the index last. load.cpp reads them back.
#include "core/checkpoint/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/checkpoint/file_io.h"
#include "core/checkpoint/local_part.h"
#include "core/checkpoint/safetensors.h"
#include "core/comm/rank_context.h"
#include "core/dtensor/dtensor.h"
#include "core/ops/ops.h"
#include "core/tensor/philox.h"

namespace tensorpar::checkpoint {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// "model.<fqn>" for every parameter; with an optimizer, "optim.<fqn>.<state>" for every state
// tensor (in the parameter's placements) and its counters into `index`.
std::vector<Item> save_items(const nn::Module& model, const optim::Optimizer* optimizer,
                             CheckpointIndex& index) {
  std::vector<Item> items;
  std::map<const TensorImpl*, std::string> fqn_of;
  for (const auto& [fqn, p] : model.named_parameters()) {
    items.push_back({kModelPrefix + fqn, p});
    fqn_of.emplace(p.impl().get(), fqn);
  }
  if (optimizer == nullptr) return items;
  index.optimizer = optimizer->type_name();
  for (std::size_t i = 0; i < optimizer->params().size(); ++i) {
    const Tensor& p = optimizer->params()[i];
    const auto it = fqn_of.find(p.impl().get());
    check_arg(it != fqn_of.end(), "save_checkpoint: optimizer parameter ", i,
              " is not a parameter of the model");
    const optim::Optimizer::ParamState state = optimizer->param_state(i);
    for (const auto& [name, t] : state.tensors) {
      Tensor value = p.is_distributed() ? Tensor(DTensor(t, DTensor(p).spec_ptr())) : t;
      items.push_back({cat(kOptimPrefix, it->second, ".", name), value});
    }
    for (const auto& [name, v] : state.counters) index.optimizer_counters[it->second][name] = v;
  }
  return items;
}

// ---- the save's metadata, exchanged between ranks ----

struct ItemMeta {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  Shape mesh_shape;
  std::vector<int> mesh_ranks;
  std::vector<std::string> mesh_dim_names;
  std::vector<std::string> placements;
  bool held = false;
  Shape offsets, sizes;
};

ItemMeta item_meta(const Item& item, const LocalPart& part) {
  ItemMeta m;
  m.name = item.name;
  m.dtype = item.value.dtype();
  m.shape = item.value.shape();
  if (item.value.is_distributed()) {
    const DTensor d(item.value);
    m.mesh_shape = d.device_mesh().shape();
    m.mesh_ranks = d.device_mesh().ranks();
    m.mesh_dim_names = d.device_mesh().dim_names();
    for (const Placement& p : d.placements()) m.placements.push_back(p.str());
  }
  m.held = part.held;
  m.offsets = part.offsets;
  m.sizes = part.sizes;
  return m;
}

std::string metas_to_json(const std::vector<ItemMeta>& metas) {
  Json out = Json::array();
  for (const ItemMeta& m : metas) {
    out.push_back({{"name", m.name},
                   {"dtype", safetensors_dtype(m.dtype)},
                   {"shape", m.shape},
                   {"mesh_shape", m.mesh_shape},
                   {"mesh_ranks", m.mesh_ranks},
                   {"dim_names", m.mesh_dim_names},
                   {"placements", m.placements},
                   {"held", m.held},
                   {"offsets", m.offsets},
                   {"sizes", m.sizes}});
  }
  return out.dump();
}

std::vector<ItemMeta> metas_from_json(const std::string& text) {
  std::vector<ItemMeta> metas;
  for (const Json& j : Json::parse(text)) {
    ItemMeta m;
    m.name = j.at("name").get<std::string>();
    m.dtype = parse_safetensors_dtype(j.at("dtype").get<std::string>(), m.name);
    m.shape = j.at("shape").get<Shape>();
    m.mesh_shape = j.at("mesh_shape").get<Shape>();
    m.mesh_ranks = j.at("mesh_ranks").get<std::vector<int>>();
    m.mesh_dim_names = j.at("dim_names").get<std::vector<std::string>>();
    m.placements = j.at("placements").get<std::vector<std::string>>();
    m.held = j.at("held").get<bool>();
    m.offsets = j.at("offsets").get<Shape>();
    m.sizes = j.at("sizes").get<Shape>();
    metas.push_back(std::move(m));
  }
  return metas;
}

// Every rank's string, in rank order: lengths first, then the bytes padded to the longest.
std::vector<std::string> all_gather_strings(Communicator* world, const std::string& text) {
  if (world == nullptr || world->size() == 1) return {text};
  const int n = world->size();
  Tensor length = from_vector<std::int64_t>({std::int64_t(text.size())}, {1}, cpu());
  Tensor lengths = Tensor::empty({n}, DType::Int64, cpu());
  world->all_gather(lengths, length)->wait();
  const std::vector<std::int64_t> sizes = to_vector<std::int64_t>(lengths);
  const std::int64_t words =
      std::max<std::int64_t>(1, (*std::max_element(sizes.begin(), sizes.end()) + 7) / 8);
  Tensor mine = zeros({words}, DType::Int64, cpu());
  std::memcpy(mine.data_ptr(), text.data(), text.size());
  Tensor all = Tensor::empty({n * words}, DType::Int64, cpu());
  world->all_gather(all, mine)->wait();
  std::vector<std::string> out;
  const char* bytes = static_cast<const char*>(all.data_ptr());
  for (int r = 0; r < n; ++r) out.emplace_back(bytes + r * words * 8, std::size_t(sizes[r]));
  return out;
}

// True when every rank passes ok (one all_reduce of a failure flag).
bool all_ok(Communicator* world, bool ok) {
  if (world == nullptr || world->size() == 1) return ok;
  Tensor failed = from_vector<std::int64_t>({ok ? 0 : 1}, {1}, cpu());
  world->all_reduce(failed, {.op = ReduceOp::Max})->wait();
  return failed.item() == 0;
}

// The file a rank writes in a save of `generation`.
std::string shard_file_name(std::int64_t generation, int rank) {
  return cat("g", generation, "-rank", rank, ".safetensors");
}

// The generation of the folder's current index, 0 when there is none (or it cannot be read).
std::int64_t current_generation(const std::string& dir) {
  try {
    return read_checkpoint_index(dir).generation;
  } catch (const std::exception&) {
    return 0;
  }
}

// Removes shard files of other generations, and leftover temporary files.
void remove_stale_files(const std::string& dir, std::int64_t generation) {
  static const std::regex pattern(R"(g(\d+)-rank\d+\.safetensors(\.tmp)?)");
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, pattern)) continue;
    if (std::stoll(m[1].str()) == generation && !m[2].matched) continue;
    std::error_code ignored;
    fs::remove(entry.path(), ignored);
  }
}

// What rank r writes: its entries (the boxes it is the lowest holder of) and their header.
struct FilePlan {
  std::vector<std::size_t> items;
  std::vector<SafetensorsEntry> entries;
  std::string header;
};

FilePlan plan_file(const std::vector<std::vector<ItemMeta>>& metas,
                   const std::vector<std::vector<int>>& writer, int rank) {
  FilePlan plan;
  std::uint64_t next = 0;
  for (std::size_t k = 0; k < writer.size(); ++k) {
    if (writer[k][std::size_t(rank)] != rank) continue;
    const ItemMeta& m = metas[std::size_t(rank)][k];
    const std::uint64_t bytes = std::uint64_t(numel(m.sizes)) * dtype_size(m.dtype);
    plan.items.push_back(k);
    plan.entries.push_back({m.name, m.dtype, m.sizes, next, next + bytes});
    next += bytes;
  }
  plan.header = encode_safetensors_header(plan.entries, {{"format", "pt"}});
  return plan;
}

// writer[k][r]: the rank that writes item k's box as rank r holds it (the lowest rank holding
// the same box), or -1 when rank r holds nothing of it or its box is empty. Checks that every
// rank saves the same tensors and that the written boxes cover each one.
std::vector<std::vector<int>> assign_writers(const std::vector<std::vector<ItemMeta>>& metas) {
  const std::size_t n = metas.size();
  const std::vector<ItemMeta>& first = metas[0];
  for (std::size_t r = 1; r < n; ++r) {
    check_arg(metas[r].size() == first.size(), "save_checkpoint: rank ", r, " saves ",
              metas[r].size(), " tensors, rank 0 saves ", first.size());
    for (std::size_t k = 0; k < first.size(); ++k) {
      const ItemMeta& a = first[k];
      const ItemMeta& b = metas[r][k];
      check_arg(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape,
                "save_checkpoint: rank ", r, " saves '", b.name, "' ", shape_text(b.shape), " ",
                dtype_name(b.dtype), " where rank 0 saves '", a.name, "' ", shape_text(a.shape),
                " ", dtype_name(a.dtype));
    }
  }
  std::vector<std::vector<int>> writer(first.size(), std::vector<int>(n, -1));
  for (std::size_t k = 0; k < first.size(); ++k) {
    std::map<std::pair<Shape, Shape>, int> lowest;
    std::int64_t covered = 0;
    for (std::size_t r = 0; r < n; ++r) {
      const ItemMeta& m = metas[r][k];
      if (!m.held || numel(m.sizes) == 0) continue;
      const auto [it, inserted] = lowest.emplace(std::make_pair(m.offsets, m.sizes), int(r));
      if (inserted) covered += numel(m.sizes);
      writer[k][r] = it->second;
    }
    check_arg(covered == numel(first[k].shape), "save_checkpoint: the ranks' shards of '",
              first[k].name, "' cover ", covered, " of its ", numel(first[k].shape), " elements");
  }
  return writer;
}

CheckpointIndex build_index(CheckpointIndex index, const std::vector<std::vector<ItemMeta>>& metas,
                            const std::vector<std::vector<int>>& writer, std::int64_t generation) {
  index.generation = generation;
  index.world = int(metas.size());
  for (std::size_t k = 0; k < writer.size(); ++k) {
    const ItemMeta& m = metas[0][k];
    index.tensors.push_back(
        {m.name, m.dtype, m.shape, m.mesh_shape, m.mesh_ranks, m.mesh_dim_names, m.placements, {}});
  }
  for (std::size_t r = 0; r < metas.size(); ++r) {
    const FilePlan plan = plan_file(metas, writer, int(r));
    for (std::size_t e = 0; e < plan.items.size(); ++e) {
      const ItemMeta& m = metas[r][plan.items[e]];
      const std::uint64_t base = plan.header.size();
      index.tensors[plan.items[e]].shards.push_back(
          {shard_file_name(generation, int(r)), int(r), m.offsets, m.sizes,
           base + plan.entries[e].begin, base + plan.entries[e].end});
    }
  }
  return index;
}

void write_shard_file(const std::string& path, const FilePlan& plan,
                      const std::vector<LocalPart>& parts) {
  write_file_atomically(path, [&](OutputFile& out) {
    out.write(plan.header.data(), plan.header.size());
    for (std::size_t k : plan.items) {
      // Device memory reaches the host through the device interface.
      const Tensor host = parts[k].local.to(cpu());
      out.write(host.data_ptr(), host.nbytes());
    }
  });
}

}  // namespace

TrainingState TrainingState::capture(std::int64_t step) {
  const Generator& g = default_generator();
  return {step, g.seed(), g.offset(), {}};
}

void TrainingState::restore_rng() const { default_generator().set_state(rng_seed, rng_offset); }

void save_checkpoint(const std::string& dir, const nn::Module& model,
                     const optim::Optimizer* optimizer, const TrainingState& state) {
  Communicator* world = has_current_world() ? &current_world() : nullptr;
  const int rank = world != nullptr ? world->rank() : 0;
  CheckpointIndex base;
  base.training = {state.step, state.rng_seed, state.rng_offset, state.extra};
  const std::vector<Item> items = save_items(model, optimizer, base);
  std::vector<LocalPart> parts;
  std::vector<ItemMeta> mine;
  for (const Item& item : items) {
    parts.push_back(local_part(item, "save_checkpoint"));
    mine.push_back(item_meta(item, parts.back()));
  }
  std::vector<std::vector<ItemMeta>> metas;
  for (const std::string& text : all_gather_strings(world, metas_to_json(mine))) {
    metas.push_back(metas_from_json(text));
  }
  const std::vector<std::vector<int>> writer = assign_writers(metas);

  // Rank 0 prepares the folder and picks the generation; -1 tells the others it failed.
  std::int64_t generation = -1;
  std::exception_ptr failure;
  if (rank == 0) {
    try {
      fs::create_directories(dir);
      generation = current_generation(dir) + 1;
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (world != nullptr && world->size() > 1) {
    Tensor g = from_vector<std::int64_t>({generation}, {1}, cpu());
    world->broadcast(g, {.root = 0})->wait();
    generation = static_cast<std::int64_t>(g.item());
  }
  if (failure) std::rethrow_exception(failure);
  check_state(generation > 0, "save_checkpoint: rank 0 could not prepare folder '", dir, "'");

  const FilePlan plan = plan_file(metas, writer, rank);
  std::string write_error;
  try {
    if (!plan.items.empty()) {
      write_shard_file((fs::path(dir) / shard_file_name(generation, rank)).string(), plan, parts);
    }
  } catch (const std::exception& e) {
    write_error = e.what();
  }
  if (!all_ok(world, write_error.empty())) {
    throw std::runtime_error(
        write_error.empty() ? cat("save_checkpoint: another rank failed to write its shards into '",
                                  dir, "'; the folder's previous checkpoint is unchanged")
                            : cat("save_checkpoint: rank ", rank, " failed to write its shards (",
                                  write_error, "); the folder's previous checkpoint is unchanged"));
  }

  if (rank == 0) {
    try {
      const CheckpointIndex index = build_index(base, metas, writer, generation);
      const std::string text = index_to_json(index);
      write_file_atomically((fs::path(dir) / kIndexFile).string(),
                            [&](OutputFile& out) { out.write(text.data(), text.size()); });
      remove_stale_files(dir, generation);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (!all_ok(world, !failure)) {
    if (failure) std::rethrow_exception(failure);
    throw std::runtime_error(cat("save_checkpoint: rank 0 failed to write the index of '", dir,
                                 "'; the folder's previous checkpoint is unchanged"));
  }
}

}  // namespace tensorpar::checkpoint
