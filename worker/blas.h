// The CPU math ringmaster's layers use: single-precision GEMM through OpenBLAS, plus a log of the
// GEMM calls a step makes so the benchmark can replay exactly those shapes against bare sgemm.
// gemm() is thread-safe (OpenBLAS is); set_blas_threads() changes a process-wide OpenBLAS setting
// and should be called once at start-up.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringmaster::worker {

struct GemmCall {
  bool trans_a = false;
  bool trans_b = false;
  int m = 0, n = 0, k = 0;
  float beta = 0.0f;
  double flops() const { return 2.0 * m * n * k; }
};
using GemmLog = std::vector<GemmCall>;

// C[m x n] = alpha * op(A) * op(B) + beta * C for packed row-major matrices, where op(A) is
// [m x k] (A is stored [k x m] when trans_a) and op(B) is [k x n] (B stored [n x k] when trans_b).
// Appends the call to *log when log is not null.
void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
          float* c, GemmLog* log = nullptr);

// Sets the number of OpenBLAS threads (default 1 per process: several replicas share a machine);
// with 1, OpenBLAS's idle thread pool is shut down (main() does so first thing for every command).
void set_blas_threads(int threads);
// OpenBLAS's own description of its build ("OpenBLAS 0.3.21 DYNAMIC_ARCH ... SkylakeX MAX_THREADS=64").
std::string blas_config();

}  // namespace ringmaster::worker
