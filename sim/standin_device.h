#pragma once
// The stand-in accelerator: a test device whose memory lives on the host but which host code
// may not touch, as it may not touch CUDA memory. data_ptr() and data<T>() throw on its tensors;
// only the device's interfaces reach them: its DeviceInterface is the CPU's (the memory is
// host-addressable) and its kernel backend forwards to the CPU kernels. Running a suite with
// every tensor on it shows that nothing above the kernels and communicators reads tensor memory
// directly, before any CUDA code exists:
//
//   sim::register_standin_device();
//   sim::run(4, [](int) {
//     DeviceGuard on(standin_device());       // factories now make stand-in tensors
//     ...                                     // the same code as on the CPU: same values, counts
//   });
//
// Its allocator counts live bytes separately from the CPU's, so a test can also see that no
// stand-in memory leaks.
#include <cstddef>

#include "core/tensor/device.h"

namespace tensorpar::sim {

// Device{DeviceType::StandIn, 0}, printed "standin:0".
Device standin_device();

// Registers the stand-in's allocator, device interface and kernel backend (idempotent).
void register_standin_device();

// Bytes held by live stand-in tensors.
std::size_t standin_bytes_in_use();

}  // namespace tensorpar::sim
