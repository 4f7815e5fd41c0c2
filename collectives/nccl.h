// The NCCL backend: collectives on CUDA device memory through NCCL, on the communicator's own
// stream. Built only where nvcc and NCCL exist (nccl.cc); elsewhere nccl_unavailable.cc answers
// that this build has no CUDA. The ncclUniqueId travels through the rendezvous store.
//
// All buffers passed to this communicator are device pointers on `device`. Calls are enqueued on
// the communicator's stream and waited for with the timeout (polling cudaStreamQuery and NCCL's
// async error); on a timeout or error the NCCL communicator is aborted (ncclCommAbort) and every
// later call fails. Like the MPI backend it checks that every rank makes the same call first.
// 16-bit types reduce in NCCL's own arithmetic (not widened to float32 as in tcp/shm).
// Thread-safe in the same way as every Communicator.
#pragma once

#include <memory>

#include "collectives/communicator.h"
#include "collectives/store.h"

namespace ringmaster::collectives {

// True when this build includes the NCCL backend (it may still find no GPU at run time).
bool nccl_built();

// Device training: from now on each allreduce_async on `comm` (an NCCL communicator) records an
// event on `cuda_stream` (a cudaStream_t) when it is called, and the collective waits for that
// event on the GPU, so a bucket's allreduce starts once the kernels enqueued before the call have
// produced it, without blocking the host. Fails with kFailedPrecondition unless comm is one.
Status nccl_follow_stream(Communicator& comm, void* cuda_stream);

Result<std::unique_ptr<Communicator>> make_nccl_communicator(Store& store, const StoreIdentity& identity, int device,
                                                             CommunicatorOptions options, Deadline deadline);

}  // namespace ringmaster::collectives
