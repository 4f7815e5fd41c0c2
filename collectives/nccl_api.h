// What libringmaster-cuda.so hands the executable that loads it for the NCCL backend
// (collectives/nccl_module.cc): nccl.h's functions behind one C entry point. The ABI number
// changes whenever this table or a type it passes changes shape.
#pragma once

#include <memory>

#include "collectives/nccl.h"

namespace ringmaster::collectives::nccl_module {

inline constexpr int kModuleAbi = 1;

struct NcclApi {
  int abi = kModuleAbi;
  Status (*follow_stream)(Communicator&, void*);
  Result<std::unique_ptr<Communicator>> (*make_communicator)(Store&, const StoreIdentity&, int, CommunicatorOptions,
                                                             Deadline);
};

}  // namespace ringmaster::collectives::nccl_module

// Defined in the module (collectives/nccl.cc).
extern "C" const ringmaster::collectives::nccl_module::NcclApi* ringmaster_nccl_api();
