#include "worker/blas.h"

#include <cblas.h>

namespace ringmaster::worker {

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
          float* c, GemmLog* log) {
  if (log != nullptr) log->push_back({trans_a, trans_b, m, n, k, beta});
  if (m == 0 || n == 0) return;
  const int lda = trans_a ? m : k;
  const int ldb = trans_b ? k : n;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda > 0 ? lda : 1, b, ldb > 0 ? ldb : 1, beta, c, n);
}

// Exported by OpenBLAS's pthread build (its fork handler uses it); a later call that wants threads
// starts the pool again.
extern "C" int blas_thread_shutdown_(void);

void set_blas_threads(int threads) {
  openblas_set_num_threads(threads);
  // OpenBLAS starts its thread pool when the library loads, and an idle pool thread spins on
  // sched_yield for ~0.1 s before it sleeps: a whole core taken from the launcher's replicas (or
  // this process's peers) at every start. With one thread the pool has nothing to do.
  if (threads <= 1) blas_thread_shutdown_();
}

std::string blas_config() {
  const char* c = openblas_get_config();
  return c ? c : "OpenBLAS";
}

}  // namespace ringmaster::worker
