// The NCCL backend in a build without CUDA: says so.
#include "collectives/nccl.h"

namespace ringmaster::collectives {

bool nccl_built() { return false; }

Status nccl_follow_stream(Communicator&, void*) {
  return Status(StatusCode::kFailedPrecondition, "nccl_follow_stream: this ringmaster was built without CUDA");
}

Result<std::unique_ptr<Communicator>> make_nccl_communicator(Store&, const StoreIdentity&, int, CommunicatorOptions,
                                                             Deadline) {
  return Status(StatusCode::kFailedPrecondition,
                "RINGMASTER_COLLECTIVES=nccl: this ringmaster was built without CUDA (no nvcc at build time)");
}

}  // namespace ringmaster::collectives
