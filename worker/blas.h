// The CPU math ringmaster's layers use: single-precision GEMM, the process's compute-thread count,
// and a log of the GEMM calls a step makes so the benchmark can replay exactly those shapes.
//
// Two libraries sit behind gemm(): oneDNN (Debian's libdnnl 2.6, the library Debian's PyTorch uses
// for its CPU convolutions) and OpenBLAS. The step uses oneDNN: on the shapes ringmaster's models
// make its AVX-512 sgemm measured 1.6-2.3x OpenBLAS's (docs/performance.md), and OpenBLAS must run
// its Haswell (AVX2) kernels here (OPENBLAS_CORETYPE=Haswell: older OpenBLAS miscomputes with its
// AVX-512 kernels on this processor). OpenBLAS stays as the bench's reference (gemm_with), opened
// (dlopen) by the first call that uses it.
//
// Threads: set_math_threads(n) is process-wide; oneDNN runs on OpenMP, whose thread count is a
// per-thread setting, so every computing thread adopts the process's count at its next gemm() or
// convolution (adopt_math_threads()). gemm() is thread-safe. oneDNN is loaded on first use
// (worker/onednn_loader.cc), so a process that never computes never maps it.
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

enum class GemmLibrary { kOneDnn, kOpenBlas };
const char* gemm_library_name(GemmLibrary library);

// C[m x n] = alpha * op(A) * op(B) + beta * C for packed row-major matrices, where op(A) is
// [m x k] (A is stored [k x m] when trans_a) and op(B) is [k x n] (B stored [n x k] when trans_b).
// Appends the call to *log when log is not null. Runs on oneDNN.
void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
          float* c, GemmLog* log = nullptr);
// The same on a chosen library (the bench compares them).
void gemm_with(GemmLibrary library, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
               const float* b, float beta, float* c);

// Sets the number of threads both libraries compute with (default 1 per process: several
// replicas share a machine). With 1, OpenBLAS's idle thread pool is shut down and oneDNN runs on
// the calling thread. Neither library is loaded by this call.
void set_math_threads(int threads);
int math_threads();
// Makes the calling thread's OpenMP thread count the process's (cheap when it already is; loads
// oneDNN and its OpenMP runtime when they are not yet).
void adopt_math_threads();
// "oneDNN 2.6.3 (OpenMP); OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell MAX_THREADS=64" (loads both).
std::string math_config();

}  // namespace ringmaster::worker
