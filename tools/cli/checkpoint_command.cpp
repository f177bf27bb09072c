// `tensorpar checkpoint info|consolidate`: what a sharded checkpoint (core/checkpoint) holds, and
// one standard safetensors file of its weights.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/index.h"
#include "core/checkpoint/safetensors.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace tensorpar::cli {

const char* const kCheckpointUsage =
    "usage: tensorpar checkpoint info DIR|FILE.safetensors [--json]\n"
    "       tensorpar checkpoint consolidate DIR OUT.safetensors\n\n"
    "info         every tensor of a checkpoint (written by 'tensorpar train --save' or\n"
    "             save_checkpoint): name, dtype, global shape, the placements and mesh it was\n"
    "             saved with, its shards and bytes; then the step, optimizer and files.\n"
    "             --json prints one object: path, generation, world, step, optimizer, files,\n"
    "             data_bytes, weights_only, tensors [{name, dtype, shape, placements, mesh,\n"
    "             shards, bytes}]\n"
    "consolidate  one standard safetensors file of the model's weights under their plain names\n"
    "             (\"layers.0.attention.wq.weight\"), whole tensors: Python's safetensors reads "
    "it,\n"
    "             PyTorch's model of the same architecture loads it, and 'tensorpar train --load'\n"
    "             starts from it\n";

namespace {

std::string join(const std::vector<std::string>& parts) {
  std::string out = "[";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out + "]";
}

std::uint64_t tensor_bytes(const checkpoint::TensorRecord& t) {
  std::uint64_t n = 0;
  for (const auto& s : t.shards) n += s.end - s.begin;
  return n;
}

int info(const std::string& path, bool json) {
  const checkpoint::CheckpointIndex index = checkpoint::read_checkpoint_index(path);
  std::set<std::string> files;
  for (const auto& t : index.tensors) {
    for (const auto& s : t.shards) files.insert(s.file);
  }
  if (json) {
    nlohmann::ordered_json out = {{"path", path},
                                  {"generation", index.generation},
                                  {"world", index.world},
                                  {"step", index.training.step},
                                  {"optimizer", index.optimizer},
                                  {"files", files.size()},
                                  {"data_bytes", index.data_bytes()},
                                  {"weights_only", index.weights_only},
                                  {"tensors", nlohmann::ordered_json::array()}};
    for (const auto& t : index.tensors) {
      out["tensors"].push_back({{"name", t.name},
                                {"dtype", checkpoint::safetensors_dtype(t.dtype)},
                                {"shape", t.shape},
                                {"placements", t.placements},
                                {"mesh", t.mesh_shape},
                                {"shards", t.shards.size()},
                                {"bytes", tensor_bytes(t)}});
    }
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::size_t width = 4;
  for (const auto& t : index.tensors) width = std::max(width, t.name.size());
  std::printf("%-*s  %-5s %-14s %-12s %-8s %6s %12s\n", int(width), "name", "dtype", "shape",
              "placements", "mesh", "shards", "bytes");
  for (const auto& t : index.tensors) {
    std::printf("%-*s  %-5s %-14s %-12s %-8s %6zu %12llu\n", int(width), t.name.c_str(),
                std::string(checkpoint::safetensors_dtype(t.dtype)).c_str(),
                shape_str(t.shape).c_str(), join(t.placements).c_str(),
                shape_str(t.mesh_shape).c_str(), t.shards.size(),
                static_cast<unsigned long long>(tensor_bytes(t)));
  }
  if (index.weights_only) {
    std::printf("%zu tensors, %llu bytes, weights only (one safetensors file)\n",
                index.tensors.size(), static_cast<unsigned long long>(index.data_bytes()));
    return 0;
  }
  std::printf(
      "%zu tensors, %llu bytes in %zu files; generation %lld, saved by %d ranks at step "
      "%lld, optimizer %s\n",
      index.tensors.size(), static_cast<unsigned long long>(index.data_bytes()), files.size(),
      static_cast<long long>(index.generation), index.world,
      static_cast<long long>(index.training.step),
      index.optimizer.empty() ? "none" : index.optimizer.c_str());
  return 0;
}

}  // namespace

int run_checkpoint(const std::vector<std::string>& argv) {
  std::vector<std::string> positional, flags;
  for (const std::string& a : argv) (a.rfind("--", 0) == 0 ? flags : positional).push_back(a);
  const Args args(flags, {}, {"json"});
  if (positional.empty()) throw UsageError("needs a subcommand: info or consolidate");
  const std::string& sub = positional[0];
  if (sub == "info") {
    if (positional.size() != 2) throw UsageError("info needs one checkpoint folder or file");
    return info(positional[1], args.has("json"));
  }
  if (sub == "consolidate") {
    if (positional.size() != 3) throw UsageError("consolidate needs DIR and OUT.safetensors");
    if (args.has("json")) throw UsageError("--json belongs to info");
    const std::uint64_t bytes = checkpoint::consolidate_checkpoint(positional[1], positional[2]);
    std::printf("wrote %s: %llu bytes of weights\n", positional[2].c_str(),
                static_cast<unsigned long long>(bytes));
    return 0;
  }
  throw UsageError("unknown subcommand '" + sub + "' (info or consolidate)");
}

}  // namespace tensorpar::cli
