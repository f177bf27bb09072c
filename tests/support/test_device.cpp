// Linked into the suites that run again on another device (tests/CMakeLists.txt, label
// device-seam): TENSORPAR_TEST_DEVICE=standin makes the stand-in device the process's default
// before any test starts, so every tensor a test or a rank thread creates without naming a device
// lives where host code may not read it. Unset, or "cpu", changes nothing.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/tensor/device.h"
#include "sim/standin_device.h"

namespace {

const bool g_device_chosen = [] {
  const char* name = std::getenv("TENSORPAR_TEST_DEVICE");
  if (name == nullptr || std::string(name).empty() || std::string(name) == "cpu") return true;
  if (std::string(name) != "standin") {
    std::fprintf(stderr, "TENSORPAR_TEST_DEVICE must be cpu or standin, got '%s'\n", name);
    std::exit(2);
  }
  tensorpar::sim::register_standin_device();
  tensorpar::set_default_device(tensorpar::sim::standin_device());
  return true;
}();

}  // namespace
