#pragma once
// CUDA status checks: every runtime, cuBLASLt and launch error becomes a std::runtime_error that
// names the call and the status, "cudaMemcpyAsync: cudaErrorInvalidValue: invalid argument".
#include <cublasLt.h>
#include <cuda_runtime.h>

namespace tensorpar::cuda {

// Throws unless status is cudaSuccess.
void check(cudaError_t status, const char* what);
// Throws unless status is CUBLAS_STATUS_SUCCESS: "cublasLtMatmul: CUBLAS_STATUS_NOT_SUPPORTED".
void check(cublasStatus_t status, const char* what);
// The launch error of the last kernel launched on this thread, if any (cudaGetLastError).
void check_launch(const char* kernel);

}  // namespace tensorpar::cuda
