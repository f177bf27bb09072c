#include "cuda/cuda_error.h"

#include <stdexcept>
#include <string>

namespace tensorpar::cuda {

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(status) + ": " +
                           cudaGetErrorString(status));
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw std::runtime_error(std::string(what) + ": " + cublasLtGetStatusName(status) + ": " +
                           cublasLtGetStatusString(status));
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace tensorpar::cuda
