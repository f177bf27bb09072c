#pragma once
// --device NAME for the commands that compute (train, check): the device every tensor of the run
// lives on. It becomes the process's default device (set_default_device), so the rank threads, the
// single-device reference and the checks all create their tensors there.
//
//   cpu       host memory (the default)
//   standin   the stand-in accelerator (sim/standin_device.h): host memory that host code may
//             not read, to show a run is free of host-memory assumptions
//   cuda      NVIDIA GPUs (a build with CUDA): cuda:0, or cuda:LOCAL_RANK for a rank of a
//             process backend (cuda_device_for_rank); otherwise an error saying why:
//               "--device cuda: this tensorpar was built without CUDA"
//               "--device cuda: no CUDA device (no CUDA-capable device is detected)"
#include "core/tensor/device.h"
#include "tools/cli/args.h"

namespace tensorpar::cli {

// The device named by --device (`fallback` when absent: "cpu" unless the backend implies
// another), registered and ready; UsageError for an unknown name, std::runtime_error when the
// build or the machine cannot provide it.
Device device_flag(const Args& args, const char* fallback = "cpu");

// cuda:`local_rank` made this process's current CUDA device: one process per GPU under a
// launcher. std::runtime_error when the machine has no GPU of that index:
//   "--device cuda: LOCAL_RANK=3 but this machine has 2 CUDA devices"
Device cuda_device_for_rank(int local_rank);

// "cpu", "standin", "cuda".
const char* device_flag_name(Device device);

}  // namespace tensorpar::cli
