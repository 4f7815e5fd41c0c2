// oneDNN, loaded when first used: definitions of the C functions of libdnnl that ringmaster calls
// (directly, or through dnnl.hpp's inline wrappers), each forwarding to the library, which the
// first call dlopen()s. ringmaster is not linked against libdnnl: the 40 MB library, its OpenMP
// runtime and its relocations would otherwise cost every process 1.5 ms and 2.6 MiB at start
// (the launcher, the sweep driver, validate: docs/performance.md), and only training uses it.
//
// A new oneDNN call in ringmaster that is not listed here fails to link ("undefined reference to
// dnnl_..."); add it below with the prototype from <oneapi/dnnl/dnnl.h> (the compiler checks that
// the two agree). Thread-safe: the library is opened once (a function-local static).
#include <dlfcn.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include <oneapi/dnnl/dnnl.h>

#include "worker/onednn.h"

namespace ringmaster::worker::onednn {
namespace {

constexpr const char* kLibrary = "libdnnl.so.2";
std::atomic<bool> g_loaded{false};

void* library() {
  static void* const handle = [] {
    void* h = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* why = ::dlerror();
      throw std::runtime_error(std::string("the CPU training step needs oneDNN, and ") + kLibrary +
                               " could not be loaded (" + (why ? why : "unknown reason") +
                               "); install Debian's libdnnl2 (scripts/install-deps does)");
    }
    g_loaded.store(true);
    return h;
  }();
  return handle;
}

}  // namespace

void* symbol(const char* name) {
  void* p = ::dlsym(library(), name);
  if (p == nullptr)
    throw std::runtime_error(std::string(kLibrary) + " has no " + name + ": it is not the oneDNN 2.x this build expects");
  return p;
}

bool loaded() { return g_loaded.load(); }

}  // namespace ringmaster::worker::onednn

#define RM_DNNL(ret, name, params, args)                                                                  \
  extern "C" ret name params {                                                                            \
    static const auto fn = reinterpret_cast<decltype(&name)>(ringmaster::worker::onednn::symbol(#name)); \
    return fn args;                                                                                       \
  }

RM_DNNL(const dnnl_version_t*, dnnl_version, (void), ())
RM_DNNL(dnnl_status_t, dnnl_sgemm,
        (char ta, char tb, dnnl_dim_t m, dnnl_dim_t n, dnnl_dim_t k, float alpha, const float* a, dnnl_dim_t lda,
         const float* b, dnnl_dim_t ldb, float beta, float* c, dnnl_dim_t ldc),
        (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
RM_DNNL(dnnl_status_t, dnnl_engine_create, (dnnl_engine_t * engine, dnnl_engine_kind_t kind, size_t index),
        (engine, kind, index))
RM_DNNL(dnnl_status_t, dnnl_engine_destroy, (dnnl_engine_t engine), (engine))
RM_DNNL(dnnl_status_t, dnnl_stream_create, (dnnl_stream_t * stream, dnnl_engine_t engine, unsigned flags),
        (stream, engine, flags))
RM_DNNL(dnnl_status_t, dnnl_stream_destroy, (dnnl_stream_t stream), (stream))
RM_DNNL(dnnl_status_t, dnnl_memory_desc_init_by_tag,
        (dnnl_memory_desc_t * md, int ndims, const dnnl_dims_t dims, dnnl_data_type_t type, dnnl_format_tag_t tag),
        (md, ndims, dims, type, tag))
RM_DNNL(int, dnnl_memory_desc_equal, (const dnnl_memory_desc_t* lhs, const dnnl_memory_desc_t* rhs), (lhs, rhs))
RM_DNNL(dnnl_status_t, dnnl_memory_create,
        (dnnl_memory_t * memory, const dnnl_memory_desc_t* md, dnnl_engine_t engine, void* handle),
        (memory, md, engine, handle))
RM_DNNL(dnnl_status_t, dnnl_memory_destroy, (dnnl_memory_t memory), (memory))
RM_DNNL(dnnl_status_t, dnnl_memory_get_engine, (const_dnnl_memory_t memory, dnnl_engine_t* engine),
        (memory, engine))
RM_DNNL(dnnl_status_t, dnnl_memory_get_memory_desc, (const_dnnl_memory_t memory, const dnnl_memory_desc_t** md),
        (memory, md))
RM_DNNL(dnnl_status_t, dnnl_memory_set_data_handle_v2, (dnnl_memory_t memory, void* handle, dnnl_stream_t stream),
        (memory, handle, stream))
RM_DNNL(dnnl_status_t, dnnl_primitive_attr_create, (dnnl_primitive_attr_t * attr), (attr))
RM_DNNL(dnnl_status_t, dnnl_primitive_attr_destroy, (dnnl_primitive_attr_t attr), (attr))
RM_DNNL(dnnl_status_t, dnnl_primitive_desc_iterator_create,
        (dnnl_primitive_desc_iterator_t * it, const_dnnl_op_desc_t op, const_dnnl_primitive_attr_t attr,
         dnnl_engine_t engine, const_dnnl_primitive_desc_t hint),
        (it, op, attr, engine, hint))
RM_DNNL(dnnl_primitive_desc_t, dnnl_primitive_desc_iterator_fetch, (const_dnnl_primitive_desc_iterator_t it), (it))
RM_DNNL(dnnl_status_t, dnnl_primitive_desc_iterator_destroy, (dnnl_primitive_desc_iterator_t it), (it))
RM_DNNL(dnnl_status_t, dnnl_primitive_desc_destroy, (dnnl_primitive_desc_t pd), (pd))
RM_DNNL(const dnnl_memory_desc_t*, dnnl_primitive_desc_query_md,
        (const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index), (pd, what, index))
RM_DNNL(dnnl_status_t, dnnl_primitive_create, (dnnl_primitive_t * primitive, const_dnnl_primitive_desc_t pd),
        (primitive, pd))
RM_DNNL(dnnl_status_t, dnnl_primitive_destroy, (dnnl_primitive_t primitive), (primitive))
RM_DNNL(dnnl_status_t, dnnl_primitive_execute,
        (const_dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs, const dnnl_exec_arg_t* args),
        (primitive, stream, nargs, args))
RM_DNNL(dnnl_status_t, dnnl_reorder_primitive_desc_create,
        (dnnl_primitive_desc_t * pd, const dnnl_memory_desc_t* src, dnnl_engine_t src_engine,
         const dnnl_memory_desc_t* dst, dnnl_engine_t dst_engine, const_dnnl_primitive_attr_t attr),
        (pd, src, src_engine, dst, dst_engine, attr))
RM_DNNL(dnnl_status_t, dnnl_convolution_forward_desc_init,
        (dnnl_convolution_desc_t * d, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg, const dnnl_memory_desc_t* src,
         const dnnl_memory_desc_t* weights, const dnnl_memory_desc_t* bias, const dnnl_memory_desc_t* dst,
         const dnnl_dims_t strides, const dnnl_dims_t pad_l, const dnnl_dims_t pad_r),
        (d, prop, alg, src, weights, bias, dst, strides, pad_l, pad_r))
RM_DNNL(dnnl_status_t, dnnl_convolution_backward_data_desc_init,
        (dnnl_convolution_desc_t * d, dnnl_alg_kind_t alg, const dnnl_memory_desc_t* diff_src,
         const dnnl_memory_desc_t* weights, const dnnl_memory_desc_t* diff_dst, const dnnl_dims_t strides,
         const dnnl_dims_t pad_l, const dnnl_dims_t pad_r),
        (d, alg, diff_src, weights, diff_dst, strides, pad_l, pad_r))
RM_DNNL(dnnl_status_t, dnnl_convolution_backward_weights_desc_init,
        (dnnl_convolution_desc_t * d, dnnl_alg_kind_t alg, const dnnl_memory_desc_t* src,
         const dnnl_memory_desc_t* diff_weights, const dnnl_memory_desc_t* diff_bias,
         const dnnl_memory_desc_t* diff_dst, const dnnl_dims_t strides, const dnnl_dims_t pad_l,
         const dnnl_dims_t pad_r),
        (d, alg, src, diff_weights, diff_bias, diff_dst, strides, pad_l, pad_r))
