#include "core/cost/kernel_model.h"

#include <algorithm>

namespace tensorpar::cost {

bool is_gemm(const kernels::OpRecord& op) {
  return op.kernel == "matmul" || op.kernel == "linear" || op.kernel == "linear_backward";
}

int gemm_count(const kernels::OpRecord& op) {
  if (!is_gemm(op)) return 0;
  if (op.kernel != "linear_backward" || op.shape.empty()) return 1;
  const std::int64_t element = std::int64_t(dtype_size(op.dtype));
  const std::int64_t beyond = op.bytes_written / element - numel(op.shape);
  return beyond > op.shape.front() ? 2 : 1;
}

KernelEstimate kernel_time(const kernels::OpRecord& op, const HardwareProfile& hardware) {
  const DeviceProfile& device = hardware.device;
  const double bytes = double(op.bytes_read + op.bytes_written);
  if (op.flops == 0 && bytes == 0) return {0, "none"};
  double compute = 0;
  if (op.flops > 0) {
    const DType rate_dtype = op.dtype == DType::Int64 ? DType::Float32 : op.dtype;
    double rate = device.peak_flops_per_s(rate_dtype);
    if (const int gemms = gemm_count(op); gemms > 0) {
      rate *= device.gemm_efficiency.at(double(op.flops) / gemms);
    }
    compute = double(op.flops) / rate;
  }
  const double memory =
      bytes > 0 ? bytes / (device.memory_bandwidth * device.memory_efficiency.at(bytes)) : 0;
  const double busy = std::max(compute, memory);
  const char* bound = device.kernel_launch_s > busy ? "launch"
                      : compute >= memory           ? "compute"
                                                    : "memory";
  return {device.kernel_launch_s + busy, bound};
}

}  // namespace tensorpar::cost
