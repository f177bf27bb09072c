#pragma once
// The CUDA device: registering it, and which devices the machine has.
//
//   cuda::register_cuda_device();                 // throws "no CUDA device ..." without a GPU
//   DeviceGuard on(cuda::cuda_device(0));         // factories now make tensors on cuda:0
//   Tensor y = softmax(x.to(cuda::cuda_device(0)), -1).to(cpu());
//
// Registration fills core's three registries for DeviceType::CUDA (docs/device_seam.md): the
// caching allocator (caching_allocator.h), the device interface (copies through pinned buffers,
// box copies, fills, conversion, the reduction of the sim's collectives) and the kernel backend
// (kernels/cuda_backend.h). Core never names CUDA: it finds them there.
#include <string>

#include "core/tensor/device.h"

namespace tensorpar::cuda {

// Visible CUDA devices; 0 when there is no GPU or no driver (never throws).
int device_count();
// Why device_count() is 0 ("cudaErrorNoDevice: no CUDA-capable device is detected"), or "".
std::string no_device_reason();

// Device{DeviceType::CUDA, index}, printed "cuda:0".
Device cuda_device(int index = 0);

// Registers the allocator, device interface and kernel backend of DeviceType::CUDA; idempotent.
// std::runtime_error "no CUDA device (cudaErrorNoDevice: ...)" when device_count() is 0.
void register_cuda_device();

// Blocks the host until every stream of `device` is idle (cudaDeviceSynchronize).
void synchronize(int device);

}  // namespace tensorpar::cuda
