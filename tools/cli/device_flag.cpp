#include "tools/cli/device_flag.h"

#include <stdexcept>
#include <string>

#include "sim/standin_device.h"
#ifdef TENSORPAR_HAVE_CUDA
#include "cuda/cuda_device.h"
#endif

namespace tensorpar::cli {

Device device_flag(const Args& args) {
  const std::string name = args.get_or("device", "cpu");
  if (name == "cpu") return cpu();
  if (name == "standin") {
    sim::register_standin_device();
    return sim::standin_device();
  }
  if (name == "cuda") {
#ifdef TENSORPAR_HAVE_CUDA
    try {
      cuda::register_cuda_device();  // "no CUDA device (...)" on a machine without one
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string("--device cuda: ") + e.what());
    }
    return cuda::cuda_device(0);
#else
    throw std::runtime_error("--device cuda: this tensorpar was built without CUDA");
#endif
  }
  throw UsageError("--device must be cpu, standin or cuda, got '" + name + "'");
}

const char* device_flag_name(Device device) { return device_type_name(device.type); }

}  // namespace tensorpar::cli
