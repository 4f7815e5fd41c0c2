#include "worker/blas.h"

#include <cblas.h>

#include <atomic>
#include <oneapi/dnnl/dnnl.h>

#include "worker/onednn.h"

namespace ringmaster::worker {
namespace {

std::atomic<int> g_threads{1};

}  // namespace

const char* gemm_library_name(GemmLibrary library) {
  return library == GemmLibrary::kOneDnn ? "oneDNN" : "OpenBLAS";
}

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
          float* c, GemmLog* log) {
  if (log != nullptr) log->push_back({trans_a, trans_b, m, n, k, beta});
  gemm_with(GemmLibrary::kOneDnn, trans_a, trans_b, m, n, k, alpha, a, b, beta, c);
}

void gemm_with(GemmLibrary library, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
               const float* b, float beta, float* c) {
  if (m == 0 || n == 0) return;
  const int lda = trans_a ? m : k;
  const int ldb = trans_b ? k : n;
  if (library == GemmLibrary::kOneDnn) {
    adopt_math_threads();
    // Row-major, as cblas with CblasRowMajor. It only fails on bad arguments, which the shapes
    // computed by the layers never are.
    (void)dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda > 0 ? lda : 1, b,
                     ldb > 0 ? ldb : 1, beta, c, n);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda > 0 ? lda : 1, b, ldb > 0 ? ldb : 1, beta, c, n);
}

// Exported by OpenBLAS's pthread build (its fork handler uses it); a later call that wants threads
// starts the pool again.
extern "C" int blas_thread_shutdown_(void);

void set_math_threads(int threads) {
  threads = threads < 1 ? 1 : threads;
  g_threads.store(threads);
  openblas_set_num_threads(threads);
  // OpenBLAS starts its thread pool when the library loads, and an idle pool thread spins on
  // sched_yield for ~0.1 s before it sleeps: a whole core taken from the launcher's replicas (or
  // this process's peers) at every start. With one thread the pool has nothing to do.
  if (threads <= 1) blas_thread_shutdown_();
  // oneDNN's OpenMP learns the count on each thread's next oneDNN call (adopt_math_threads), so
  // that a process which never trains never loads the library.
  if (onednn::loaded()) adopt_math_threads();
}

int math_threads() { return g_threads.load(); }

void adopt_math_threads() {
  // OpenMP's thread count (nthreads-var) belongs to the calling thread's task: setting it on the
  // main thread does not reach the loader's or a test's threads, which start from OMP_NUM_THREADS
  // or the core count. Each thread therefore sets it once, and again when the process's changes.
  thread_local int adopted = 0;
  const int want = g_threads.load(std::memory_order_relaxed);
  if (adopted != want) {
    // libgomp, loaded with libdnnl (onednn_loader.cc).
    static const auto set = reinterpret_cast<void (*)(int)>(onednn::symbol("omp_set_num_threads"));
    set(want);
    adopted = want;
  }
}

std::string math_config() {
  const dnnl_version_t* v = dnnl_version();
  std::string s = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                  std::to_string(v->patch) + " (OpenMP)";
  const char* c = openblas_get_config();
  return s + "; " + (c ? c : "OpenBLAS");
}

}  // namespace ringmaster::worker
