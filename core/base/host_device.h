#pragma once
// TENSORPAR_HOST_DEVICE marks a header-only function that both the host's code and CUDA kernels
// call (__host__ __device__ under nvcc, nothing otherwise), so the CPU backend and the CUDA
// backend compute one formula, not two copies of it: the Philox words (core/tensor/philox.h)
// and the optimizers' element updates (core/kernels/optim_step.h).
#if defined(__CUDACC__)
#define TENSORPAR_HOST_DEVICE __host__ __device__
#else
#define TENSORPAR_HOST_DEVICE
#endif
