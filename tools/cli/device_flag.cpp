#include "tools/cli/device_flag.h"

#include <stdexcept>
#include <string>

#include "sim/standin_device.h"

namespace tensorpar::cli {

Device device_flag(const Args& args) {
  const std::string name = args.get_or("device", "cpu");
  if (name == "cpu") return cpu();
  if (name == "standin") {
    sim::register_standin_device();
    return sim::standin_device();
  }
  if (name == "cuda") {
    throw std::runtime_error("--device cuda: this tensorpar was built without CUDA");
  }
  throw UsageError("--device must be cpu, standin or cuda, got '" + name + "'");
}

const char* device_flag_name(Device device) { return device_type_name(device.type); }

}  // namespace tensorpar::cli
