#pragma once
// Deterministic parameter initialisation (torch.nn.init) from a Philox Generator.
//
// Every rank that builds a model from the same seed draws the same numbers, so each rank can
// build the full model and let the parallel styles shard it (no broadcast needed).
// The results are fresh leaf tensors with requires_grad set.
#include <cstdint>

#include "core/tensor/philox.h"
#include "core/tensor/tensor.h"

namespace tensorpar::nn::init {

// U(low, high): low + (high - low) * rand.
Tensor uniform(const Shape& shape, double low, double high, Generator& gen,
               DType dtype = DType::Float32);
// N(mean, std^2).
Tensor normal(const Shape& shape, double mean, double std, Generator& gen,
              DType dtype = DType::Float32);
Tensor constant(const Shape& shape, double value, DType dtype = DType::Float32);

}  // namespace tensorpar::nn::init
