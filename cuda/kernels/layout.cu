#include "cuda/kernels/cuda_backend.h"
