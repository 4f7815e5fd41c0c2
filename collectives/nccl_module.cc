// nccl.h's functions in the executable: they load the NCCL backend from the CUDA module
// (libringmaster-cuda.so; common/shared_module.h) on first use, so only a process that asks for
// the nccl backend maps CUDA and NCCL. In a build without CUDA they say so.
#include "collectives/nccl.h"
#include "collectives/nccl_api.h"
#include "common/shared_module.h"

namespace ringmaster::collectives {
namespace {

#ifdef RINGMASTER_NCCL_MODULE_PATH
constexpr bool kBuilt = true;
constexpr const char* kBuildPath = RINGMASTER_NCCL_MODULE_PATH;
#else
constexpr bool kBuilt = false;
constexpr const char* kBuildPath = "";
#endif

Result<const nccl_module::NcclApi*> api() {
  if (!kBuilt)
    return Status(StatusCode::kFailedPrecondition,
                  "RINGMASTER_COLLECTIVES=nccl: this ringmaster was built without CUDA (no nvcc at build time)");
  auto table = shared_module_table<nccl_module::NcclApi>(cuda_module_spec(kBuildPath), "ringmaster_nccl_api",
                                                          nccl_module::kModuleAbi);
  if (!table) return table.status().with_context("RINGMASTER_COLLECTIVES=nccl");
  return table;
}

}  // namespace

bool nccl_built() { return kBuilt; }

Status nccl_follow_stream(Communicator& comm, void* cuda_stream) {
  auto a = api();
  if (!a) return a.status();
  return (*a)->follow_stream(comm, cuda_stream);
}

Result<std::unique_ptr<Communicator>> make_nccl_communicator(Store& store, const StoreIdentity& identity, int device,
                                                             CommunicatorOptions options, Deadline deadline) {
  auto a = api();
  if (!a) return a.status();
  return (*a)->make_communicator(store, identity, device, options, deadline);
}

}  // namespace ringmaster::collectives
