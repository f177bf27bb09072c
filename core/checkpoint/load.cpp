// load_checkpoint and consolidate_checkpoint (checkpoint.h): each rank reads the byte runs its
// own placements need, with no communication.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/file_io.h"
#include "core/checkpoint/local_part.h"
#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/shard_reader.h"
#include "core/dtensor/dtensor.h"

namespace tensorpar::checkpoint {

namespace {

// Reads `record` into `dst`, this rank's local data of `value` (plain or DTensor), after checking
// dtype and global shape against the value.
void read_into(ShardReader& reader, const TensorRecord& record, const Tensor& value, Tensor dst) {
  check_arg(record.dtype == value.dtype(), "load_checkpoint: tensor '", record.name, "' is ",
            dtype_name(record.dtype), " in the checkpoint but ", dtype_name(value.dtype()),
            " in the model");
  check_arg(record.shape == value.shape(), "load_checkpoint: tensor '", record.name, "' has shape ",
            shape_text(record.shape), " in the checkpoint but ", shape_text(value.shape()),
            " in the model");
  const LocalPart part = local_part({record.name, value}, "load_checkpoint");
  if (!part.held) return;
  Tensor host = Tensor::empty(part.sizes, record.dtype, cpu());
  reader.read_box(record, part.offsets, part.sizes, host.data_ptr());
  dst.copy_(host);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

void load_optimizer(ShardReader& reader, const CheckpointIndex& index,
                    const std::map<const TensorImpl*, std::string>& fqn_of,
                    optim::Optimizer& optimizer) {
  check_arg(index.optimizer == optimizer.type_name(), "load_checkpoint: the checkpoint holds ",
            index.optimizer, " state, the optimizer is ", optimizer.type_name());
  std::set<std::string> used;
  for (std::size_t i = 0; i < optimizer.params().size(); ++i) {
    const Tensor& p = optimizer.params()[i];
    const auto it = fqn_of.find(p.impl().get());
    check_arg(it != fqn_of.end(), "load_checkpoint: optimizer parameter ", i,
              " is not a parameter of the model");
    const std::string prefix = cat(kOptimPrefix, it->second, ".");
    NoGradGuard no_grad;
    const Tensor local = p.is_distributed() ? DTensor(p).to_local() : p;
    optim::Optimizer::ParamState state;
    for (const TensorRecord& t : index.tensors) {
      if (!starts_with(t.name, prefix) || t.name.find('.', prefix.size()) != std::string::npos) {
        continue;
      }
      Tensor dst = Tensor::empty(local.shape(), local.dtype(), local.device());
      const Tensor value = p.is_distributed() ? Tensor(DTensor(dst, DTensor(p).spec_ptr())) : dst;
      read_into(reader, t, value, dst);
      state.tensors.emplace_back(t.name.substr(prefix.size()), dst);
      used.insert(t.name);
    }
    const auto counters = index.optimizer_counters.find(it->second);
    if (counters != index.optimizer_counters.end()) {
      state.counters.assign(counters->second.begin(), counters->second.end());
    }
    optimizer.load_param_state(i, state);
  }
  for (const TensorRecord& t : index.tensors) {
    check_arg(!starts_with(t.name, kOptimPrefix) || used.count(t.name) != 0,
              "load_checkpoint: checkpoint tensor '", t.name,
              "' belongs to no parameter of the optimizer");
  }
}

}  // namespace

TrainingState load_checkpoint(const std::string& path, nn::Module& model,
                              optim::Optimizer* optimizer, LoadStats* stats) {
  const CheckpointIndex index = read_checkpoint_index(path);
  ShardReader reader(index);
  const auto named = model.named_parameters();
  std::set<std::string> names;
  std::map<const TensorImpl*, std::string> fqn_of;
  for (const auto& [fqn, p] : named) {
    names.insert(kModelPrefix + fqn);
    fqn_of.emplace(p.impl().get(), fqn);
  }
  for (const TensorRecord& t : index.tensors) {
    check_arg(!starts_with(t.name, kModelPrefix) || names.count(t.name) != 0,
              "load_checkpoint: checkpoint tensor '", t.name, "' ", shape_text(t.shape),
              " is not a parameter of the model (a checkpoint of another architecture?)");
  }
  for (const auto& [fqn, p] : named) {
    const TensorRecord* record = index.find(kModelPrefix + fqn);
    check_arg(record != nullptr, "load_checkpoint: parameter '", fqn, "' ", shape_text(p.shape()),
              " is missing from checkpoint '", path, "'");
    NoGradGuard no_grad;
    read_into(reader, *record, p, p.is_distributed() ? DTensor(p).to_local() : p);
  }
  if (optimizer != nullptr && !index.optimizer.empty()) {
    load_optimizer(reader, index, fqn_of, *optimizer);
  }
  if (stats != nullptr) {
    stats->data_bytes_read = reader.data_bytes_read();
    stats->reads = reader.reads();
    stats->header_bytes_read = reader.header_bytes_read();
    stats->files_opened = reader.files_opened();
  }
  const TrainingRecord& t = index.training;
  return {t.step, t.rng_seed, t.rng_offset, t.extra};
}

std::uint64_t consolidate_checkpoint(const std::string& dir, const std::string& out_file) {
  const CheckpointIndex index = read_checkpoint_index(dir);
  ShardReader reader(index);
  std::vector<const TensorRecord*> records;
  std::vector<SafetensorsEntry> entries;
  std::uint64_t next = 0;
  for (const TensorRecord& t : index.tensors) {
    if (!starts_with(t.name, kModelPrefix)) continue;
    const std::uint64_t bytes = std::uint64_t(numel(t.shape)) * dtype_size(t.dtype);
    records.push_back(&t);
    entries.push_back(
        {t.name.substr(std::string(kModelPrefix).size()), t.dtype, t.shape, next, next + bytes});
    next += bytes;
  }
  const std::string header = encode_safetensors_header(entries, {{"format", "pt"}});
  write_file_atomically(out_file, [&](OutputFile& out) {
    out.write(header.data(), header.size());
    for (const TensorRecord* t : records) {
      std::vector<char> buffer(std::size_t(numel(t->shape)) * dtype_size(t->dtype));
      reader.read_box(*t, Shape(t->shape.size(), 0), t->shape, buffer.data());
      out.write(buffer.data(), buffer.size());
    }
  });
  return next;
}

}  // namespace tensorpar::checkpoint
