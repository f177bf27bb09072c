#pragma once
// Sharded checkpoints (PyTorch's Distributed Checkpoint, in safetensors files): every rank writes
// its own shards, and a load reads on each rank only the bytes its own shards need, so a model
// saved on one layout resumes on any other (train at TP 4, resume at TP 2 or on one device).
//
//   save_checkpoint("ckpt", model, &opt, TrainingState::capture(step));     // every rank
//   TrainingState s = load_checkpoint("ckpt", model, &opt);                 // every rank
//   s.restore_rng();                                                        // dropout resumes
//
// What is saved: every parameter ("model.<fqn>"), the optimizer's per-parameter tensors in the
// parameter's placements ("optim.<fqn>.exp_avg", ...) and counters (Adam's step), and the
// training state. Format: index.h (the folder, index.json) and safetensors.h (the files).
//
// save_checkpoint is collective over the current world (every rank calls it, in the same order);
// coordination goes through the world's Communicator only (two all_gathers of small metadata, a
// broadcast and two all_reduces of flags), so ranks may be threads or processes. A replicated
// shard is written once, by the lowest global rank holding it. Files are written to temporary
// names and renamed, the index last: a save that fails part way leaves the previous checkpoint
// of the folder loadable. load_checkpoint needs no communication.
//
// The model and optimizer at load may be parallelized with any plan on any mesh, independently of
// the save: each parameter's own placements decide which box this rank reads.
#include <cstdint>
#include <map>
#include <string>

#include "core/checkpoint/index.h"
#include "core/nn/module.h"
#include "core/optim/optimizer.h"

namespace tensorpar::checkpoint {

// The training position a resumed run needs: the step to continue at, the state of the rank's
// default generator (dropout's stream), and user entries.
struct TrainingState {
  std::int64_t step = 0;
  std::uint64_t rng_seed = 0;
  std::uint64_t rng_offset = 0;
  std::map<std::string, std::string> extra;

  // `step` and the rank's default_generator() state (a rank-context slot).
  static TrainingState capture(std::int64_t step);
  // Sets the rank's default_generator() to the saved state.
  void restore_rng() const;
};

// What a load read; data bytes are tensor bytes only (file headers and the index are counted
// apart).
struct LoadStats {
  std::uint64_t data_bytes_read = 0;
  std::uint64_t reads = 0;
  std::uint64_t header_bytes_read = 0;
  std::uint64_t files_opened = 0;
};

// Saves into folder `dir` (created when missing). Collective over the current world when one is
// set (otherwise this thread alone is the world). A Partial parameter or state is refused
// (std::invalid_argument naming it): reduce it first. An optimizer may be null (weights only).
void save_checkpoint(const std::string& dir, const nn::Module& model,
                     const optim::Optimizer* optimizer, const TrainingState& state = {});

// Loads `path` (a checkpoint folder, or a lone .safetensors file of weights) into the model's
// parameters in place, and, when the checkpoint has optimizer state and `optimizer` is not null,
// into the optimizer. Errors (std::invalid_argument for a checkpoint that does not fit the model,
// std::runtime_error for damaged files) name the tensor and the mismatch: a parameter missing
// from the checkpoint, a checkpoint tensor the model lacks, a global shape or dtype that differs,
// another optimizer kind.
TrainingState load_checkpoint(const std::string& path, nn::Module& model,
                              optim::Optimizer* optimizer, LoadStats* stats = nullptr);

// One standard safetensors file of the checkpoint's model weights under their plain FQNs
// ("layers.0.attention.wq.weight"), the whole tensors, readable by Python's safetensors and
// loadable into PyTorch's model of the same architecture. Runs on one thread; reads each shard
// once. Returns the bytes of tensor data written.
std::uint64_t consolidate_checkpoint(const std::string& dir, const std::string& out_file);

}  // namespace tensorpar::checkpoint
