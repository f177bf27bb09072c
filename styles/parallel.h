#pragma once
// The Tensor Parallel API in one include (PyTorch's torch.distributed.tensor.parallel).
#include "styles/colwise_rowwise.h"
#include "styles/distribute_module.h"
#include "styles/parallel_style.h"
#include "styles/parallelize_module.h"
#include "styles/prepare_module.h"
#include "styles/sequence_parallel.h"
