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

void set_blas_threads(int threads) { openblas_set_num_threads(threads); }

std::string blas_config() {
  const char* c = openblas_get_config();
  return c ? c : "OpenBLAS";
}

}  // namespace ringmaster::worker
