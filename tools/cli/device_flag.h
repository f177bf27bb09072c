#pragma once
// --device NAME for the commands that compute (train, check): the device every tensor of the run
// lives on. It becomes the process's default device (set_default_device), so the rank threads, the
// single-device reference and the checks all create their tensors there.
//
//   cpu       host memory (the default)
//   standin   the stand-in accelerator (sim/standin_device.h): host memory that host code may
//             not read, to show a run is free of host-memory assumptions
//   cuda      NVIDIA GPUs (a build with CUDA); otherwise an error saying so
#include "core/tensor/device.h"
#include "tools/cli/args.h"

namespace tensorpar::cli {

// The device named by --device (cpu when absent), registered and ready; UsageError for an
// unknown name, std::runtime_error when the build or the machine cannot provide it.
Device device_flag(const Args& args);

// "cpu", "standin", "cuda".
const char* device_flag_name(Device device);

}  // namespace tensorpar::cli
