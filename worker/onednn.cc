#include "worker/onednn.h"

#include "worker/blas.h"

namespace ringmaster::worker::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  adopt_math_threads();
  return s;
}

Operand::Operand(const dnnl::memory::desc& user, const dnnl::memory::desc& wanted)
    : user_desc_(user), wanted_(wanted), staged_(user != wanted) {
  user_ = dnnl::memory(user_desc_, engine(), DNNL_MEMORY_NONE);
  if (!staged_) return;
  inner_ = dnnl::memory(wanted_, engine());
  to_inner_ = dnnl::reorder(user_, inner_);
  to_user_ = dnnl::reorder(inner_, user_);
}

dnnl::memory& Operand::in(const float* user_data) {
  // oneDNN's memory handle is non-const; inputs are only read.
  user_.set_data_handle(const_cast<float*>(user_data));
  if (!staged_) return user_;
  to_inner_.execute(stream(), user_, inner_);
  return inner_;
}

dnnl::memory& Operand::out(float* user_data) {
  user_.set_data_handle(user_data);
  return staged_ ? inner_ : user_;
}

void Operand::out_done() {
  if (staged_) to_user_.execute(stream(), inner_, user_);
}

}  // namespace ringmaster::worker::onednn
