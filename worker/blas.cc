#include "worker/blas.h"

#include <cblas.h>
#include <dlfcn.h>

#include <atomic>
#include <mutex>
#include <oneapi/dnnl/dnnl.h>
#include <stdexcept>
#include <string>

#include "worker/onednn.h"

namespace ringmaster::worker {
namespace {

std::atomic<int> g_threads{1};

// OpenBLAS, opened by the first call that compares against it (the bench): nothing else uses it,
// and linked in, its constructor started a thread pool in every ringmaster process.
struct OpenBlas {
  decltype(&cblas_sgemm) sgemm = nullptr;
  decltype(&openblas_set_num_threads) set_threads = nullptr;
  decltype(&openblas_get_config) config = nullptr;
  int (*shutdown)() = nullptr;  // blas_thread_shutdown_: exported by the pthread build
};
std::atomic<const OpenBlas*> g_openblas{nullptr};

void openblas_apply_threads(const OpenBlas& lib, int threads) {
  lib.set_threads(threads);
  // OpenBLAS starts its thread pool when the library loads, and an idle pool thread spins on
  // sched_yield for ~0.1 s before it sleeps: a core taken from this process's peers. With one
  // thread the pool has nothing to do.
  if (threads <= 1 && lib.shutdown != nullptr) lib.shutdown();
}

const OpenBlas& openblas() {
  static std::once_flag once;
  static OpenBlas lib;
  std::call_once(once, [] {
    void* h = ::dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* why = ::dlerror();
      throw std::runtime_error(std::string("OpenBLAS (libopenblas.so.0) could not be loaded: ") +
                               (why ? why : "unknown reason") + "; scripts/install-deps installs it");
    }
    lib.sgemm = reinterpret_cast<decltype(&cblas_sgemm)>(::dlsym(h, "cblas_sgemm"));
    lib.set_threads = reinterpret_cast<decltype(&openblas_set_num_threads)>(::dlsym(h, "openblas_set_num_threads"));
    lib.config = reinterpret_cast<decltype(&openblas_get_config)>(::dlsym(h, "openblas_get_config"));
    lib.shutdown = reinterpret_cast<int (*)()>(::dlsym(h, "blas_thread_shutdown_"));
    if (lib.sgemm == nullptr || lib.set_threads == nullptr || lib.config == nullptr)
      throw std::runtime_error("libopenblas.so.0 lacks cblas_sgemm, openblas_set_num_threads or openblas_get_config");
    openblas_apply_threads(lib, g_threads.load());
    g_openblas.store(&lib);
  });
  return lib;
}

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
  openblas().sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                   alpha, a, lda > 0 ? lda : 1, b, ldb > 0 ? ldb : 1, beta, c, n);
}

void set_math_threads(int threads) {
  threads = threads < 1 ? 1 : threads;
  g_threads.store(threads);
  if (const OpenBlas* lib = g_openblas.load()) openblas_apply_threads(*lib, threads);
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
  const char* c = openblas().config();
  return s + "; " + (c ? c : "OpenBLAS");
}

}  // namespace ringmaster::worker
