#pragma once
// Checkpoints of `tensorpar train` (core/checkpoint): --load DIR resumes a run at any --world,
// with or without sequence parallel, on any backend; --save DIR [--save-every N] writes one.
//
// --steps counts the steps of this invocation: `train --steps 10 --save D` then
// `train --steps 10 --load D` trains on the batches and dropout draws an uninterrupted
// `train --steps 20` uses for its steps 11..20, and reports them (report, --json, progress,
// --trace) under those numbers.
#include <cstdint>

#include "core/nn/module.h"
#include "core/optim/optimizer.h"
#include "tools/cli/train_run.h"

namespace tensorpar::cli {

// With --load: the checkpoint loaded into the model and optimizer on this rank, the default
// generator restored, and the step to continue at. A lone .safetensors file gives weights only
// (step 0, optimizer and generator untouched). Without --load: 0.
std::int64_t resume_training(const TrainConfig& config, nn::Module& model,
                             optim::Optimizer& optimizer);

// The step resume_training will return, read from the checkpoint's index alone (no tensor
// data): what the progress line needs before the run. 0 without --load or for a lone
// .safetensors file.
std::int64_t resume_step(const TrainConfig& config);

// Whether a checkpoint is due after step `step` (0-based) of this invocation.
bool save_due(const TrainConfig& config, int step);

// Saves model, optimizer and training position (`next_step`, the default generator) into
// config.save_dir; collective over the current world.
void save_training(const TrainConfig& config, const nn::Module& model,
                   const optim::Optimizer& optimizer, std::int64_t next_step);

}  // namespace tensorpar::cli
