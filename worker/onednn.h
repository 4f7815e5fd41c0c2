// oneDNN plumbing shared by worker/blas.cc and the layers that run oneDNN primitives
// (worker-internal; the layers' users never see it). oneDNN is Debian's libdnnl 2.6 on its OpenMP
// runtime, loaded on first use; see worker/blas.h for why the CPU step uses it and how its thread
// count is set.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace ringmaster::worker::onednn {

// The address of a libdnnl function, opening the library on first use (onednn_loader.cc: ringmaster
// is not linked against it, so processes that never train never map it). Throws
// std::runtime_error saying what to install when it cannot be loaded.
void* symbol(const char* name);
// Whether symbol() has opened libdnnl in this process yet.
bool loaded();

// The process's CPU engine, and a stream for the calling thread (CPU streams execute in order on
// the calling thread; execute() returns after the primitive has run).
dnnl::engine& engine();
dnnl::stream& stream();

// One operand of a primitive whose user-side layout is plain (nchw, oihw, x) while the primitive
// may want another (oneDNN's blocked layouts, e.g. nChw16c). Holds the staging buffer when the two
// differ, so a layer reorders in and out of it, and passes the user's buffer straight through when
// they are the same.
class Operand {
 public:
  Operand() = default;
  Operand(const dnnl::memory::desc& user, const dnnl::memory::desc& wanted);
  bool staged() const { return staged_; }
  const dnnl::memory::desc& wanted() const { return wanted_; }
  // The memory to give the primitive for an input at `user_data`: the user's buffer, or the
  // staging buffer after reordering the user's data into it.
  dnnl::memory& in(const float* user_data);
  // The memory to give the primitive for an output that should end in `user_data`; call out_done()
  // after the primitive ran to move a staged result there.
  dnnl::memory& out(float* user_data);
  void out_done();
  // The staging buffer as last filled (REQUIRES: staged()).
  dnnl::memory& staging() { return inner_; }

 private:
  dnnl::memory::desc user_desc_, wanted_;
  dnnl::memory user_, inner_;
  dnnl::reorder to_inner_, to_user_;  // made once: a reorder primitive costs more to create than to run here
  bool staged_ = false;
};

}  // namespace ringmaster::worker::onednn
