#include "tools/cli/train_checkpoint.h"

#include <filesystem>

#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/index.h"

namespace tensorpar::cli {

std::int64_t resume_training(const TrainConfig& c, nn::Module& model, optim::Optimizer& optimizer) {
  if (c.load_path.empty()) return 0;
  if (std::filesystem::is_regular_file(c.load_path)) {
    checkpoint::load_checkpoint(c.load_path, model, nullptr);
    return 0;
  }
  const checkpoint::TrainingState state =
      checkpoint::load_checkpoint(c.load_path, model, &optimizer);
  state.restore_rng();
  return state.step;
}

std::int64_t resume_step(const TrainConfig& c) {
  if (c.load_path.empty() || std::filesystem::is_regular_file(c.load_path)) return 0;
  return checkpoint::read_checkpoint_index(c.load_path).training.step;
}

bool save_due(const TrainConfig& c, int step) {
  if (c.save_dir.empty()) return false;
  const bool last = step + 1 == c.steps;
  return last || (c.save_every > 0 && (step + 1) % c.save_every == 0);
}

void save_training(const TrainConfig& c, const nn::Module& model, const optim::Optimizer& optimizer,
                   std::int64_t next_step) {
  checkpoint::save_checkpoint(c.save_dir, model, &optimizer,
                              checkpoint::TrainingState::capture(next_step));
}

}  // namespace tensorpar::cli
