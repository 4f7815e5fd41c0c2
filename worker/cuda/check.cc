#include "worker/cuda/check.h"

#include <fmt/format.h>

#include <cstring>

namespace ringmaster::worker::cuda {
namespace {

const char* base_name(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash != nullptr ? slash + 1 : file;
}

}  // namespace

Status check(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return Status::ok();
  const StatusCode code = e == cudaErrorMemoryAllocation ? StatusCode::kUnavailable
                          : e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver
                              ? StatusCode::kFailedPrecondition
                              : StatusCode::kInternal;
  return Status(code, fmt::format("{} failed ({}:{}): {}: {}", call, base_name(file), line, cudaGetErrorName(e),
                                  cudaGetErrorString(e)));
}

Status check(cublasStatus_t e, const char* call, const char* file, int line) {
  if (e == CUBLAS_STATUS_SUCCESS) return Status::ok();
  return Status(e == CUBLAS_STATUS_ALLOC_FAILED ? StatusCode::kUnavailable : StatusCode::kInternal,
                fmt::format("{} failed ({}:{}): cuBLAS: {}", call, base_name(file), line, cublasGetStatusString(e)));
}

}  // namespace ringmaster::worker::cuda
