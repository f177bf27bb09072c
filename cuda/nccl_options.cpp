#include "cuda/nccl_options.h"

#include "core/base/error.h"

namespace tensorpar::cuda {

namespace {

// -1 (unset) or within [low, high].
void check_optional_int(const char* name, int value, int low, int high) {
  check_arg(value == -1 || (value >= low && value <= high), "NcclOptions: ", name,
            " must be -1 (NCCL's default) or in [", low, ", ", high, "], got ", value);
}

}  // namespace

void validate(const NcclOptions& options) {
  check_arg(options.device >= -1,
            "NcclOptions: device must be -1 (the current device) or >= 0, got ", options.device);
  check_arg(options.timeout.count() > 0, "NcclOptions: timeout must be > 0 ms, got ",
            options.timeout.count(), " ms");
  check_arg(options.watchdog_interval.count() > 0,
            "NcclOptions: watchdog_interval must be > 0 ms, got ",
            options.watchdog_interval.count(), " ms");
  check_arg(!options.prefix.empty(), "NcclOptions: prefix must not be empty");
  check_optional_int("min_ctas", options.min_ctas, 1, 64);
  check_optional_int("max_ctas", options.max_ctas, 1, 64);
  check_optional_int("cga_cluster_size", options.cga_cluster_size, 0, 8);
  check_arg(
      options.min_ctas == -1 || options.max_ctas == -1 || options.min_ctas <= options.max_ctas,
      "NcclOptions: min_ctas ", options.min_ctas, " exceeds max_ctas ", options.max_ctas);
}

}  // namespace tensorpar::cuda
