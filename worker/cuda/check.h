// Checked CUDA and cuBLAS calls: every status is turned into a ringmaster Status naming the call,
// the file and line, and CUDA's own description. Host code only.
//
//   RM_CUDA_TRY(cudaMemcpyAsync(...));        // returns the Status from the enclosing function
//   RM_CUDA_TRY(cuda::bias_activation(...));  // kernel launchers return cudaGetLastError()
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common/status.h"

namespace ringmaster::worker::cuda {

Status check(cudaError_t e, const char* call, const char* file, int line);
Status check(cublasStatus_t e, const char* call, const char* file, int line);

}  // namespace ringmaster::worker::cuda

#define RM_CUDA_TRY(expr)                                                                         \
  do {                                                                                            \
    if (::ringmaster::Status rm_cuda_status_ = ::ringmaster::worker::cuda::check((expr), #expr, __FILE__, __LINE__); \
        !rm_cuda_status_)                                                                         \
      return rm_cuda_status_;                                                                     \
  } while (0)
