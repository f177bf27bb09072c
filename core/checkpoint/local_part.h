#pragma once
// What a save and a load share: the checkpoint names of model and optimizer tensors, and this
// rank's part of a tensor (its local data and the global box that data covers).
#include <string>

#include "core/tensor/tensor.h"

namespace tensorpar::checkpoint {

// "model.<fqn>" for a parameter, "optim.<fqn>.<state>" for an optimizer state tensor.
inline constexpr const char* kModelPrefix = "model.";
inline constexpr const char* kOptimPrefix = "optim.";

// One tensor of a save or load: its checkpoint name and its value (a plain tensor, or a DTensor
// whose placements say which box this rank holds).
struct Item {
  std::string name;
  Tensor value;
};

// This rank's part of an item: its local data and the box it covers. `held` is false on a rank
// outside the item's mesh.
struct LocalPart {
  bool held = false;
  Tensor local;
  Shape offsets, sizes;
};

// The part of `item` this rank holds. A Partial value is refused, naming `who` and the item.
LocalPart local_part(const Item& item, const char* who);

}  // namespace tensorpar::checkpoint
