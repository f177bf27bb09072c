#pragma once
// The CUDA device's DeviceInterface (core/tensor/device_interface.h): how the tensor layer and the
// sim's collectives move CUDA memory. Each call runs on the rank's current stream of the device
// that owns the destination (stream.h):
//   copy             cudaMemcpyAsync (device to device, across devices through unified addressing)
//   copy_from_host   through pinned staging buffers, two in flight; returns once the host
//                    buffer may be reused
//   copy_to_host     through a pinned staging buffer; returns with the bytes on the host
//   copy_box, fill, convert, reduce   small kernels, stream-ordered (no host wait), except that a
//                    float-to-int64 conversion waits to check its values
#include "core/tensor/device_interface.h"

namespace tensorpar::cuda {

DeviceInterface& cuda_device_interface();

}  // namespace tensorpar::cuda
