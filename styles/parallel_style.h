#pragma once
// ParallelStyle: how one module is parallelized over a 1-D DeviceMesh (PyTorch's
// torch.distributed.tensor.parallel.ParallelStyle). A style swaps the module's parameters for
// DTensors and installs forward hooks that convert inputs and outputs between plain tensors and
// DTensors of the layouts it promises:
//
//   DeviceMesh mesh({4});
//   Linear fc(16, 16);
//   ColwiseParallel().apply(fc, mesh);   // weight, bias -> Shard(0); input Replicate,
//   Tensor y = fc(x);                    //   output the local Shard(-1) block (8, 4)
//
// Users rarely call apply() directly: parallelize_module (parallelize_module.h) applies styles
// by FQN pattern and sets src_data_rank.
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dtensor/device_mesh.h"
#include "core/nn/module.h"
#include "core/dtensor/placement.h"

namespace tensorpar {

class ParallelStyle {
 public:
  virtual ~ParallelStyle() = default;
  // Parallelizes `module` in place over `mesh`.
  virtual void apply(nn::Module& module, const DeviceMesh& mesh) = 0;
  // "ColwiseParallel(input_layouts=R, output_layouts=S(-1), use_local_output=true)".
  virtual std::string repr() const = 0;

  // Where distribute_tensor takes parameter data from: a rank of the mesh (0 by default), or
  // std::nullopt for no communication at all (every rank shards its own copy).
  // parallelize_module overwrites it.
  std::optional<int> src_data_rank = 0;
};

using ParallelStylePtr = std::shared_ptr<ParallelStyle>;

// One layout per positional input or output; std::nullopt entries pass that value through. A
// single Placement converts to a one-element list, as PyTorch wraps a single Placement in a tuple:
//
//   Layouts a = Shard(0);                          // (Shard(0),)
//   Layouts b = {Shard(0), std::nullopt};          // (Shard(0), None)
class Layouts {
 public:
  Layouts() = default;
  Layouts(Placement p) : items_{p} {}  // NOLINT: implicit like PyTorch's tuple wrapping
  Layouts(std::initializer_list<std::optional<Placement>> items) : items_(items) {}
  explicit Layouts(std::vector<std::optional<Placement>> items) : items_(std::move(items)) {}

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::optional<Placement>& operator[](std::size_t i) const { return items_[i]; }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  // "(S(0), None)".
  std::string str() const;

  friend bool operator==(const Layouts& a, const Layouts& b) { return a.items_ == b.items_; }

 private:
  std::vector<std::optional<Placement>> items_;
};

}  // namespace tensorpar
