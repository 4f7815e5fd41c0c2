// What libringmaster-cuda.so hands the executable that loads it (worker/cuda_module.cc): the
// device.h functions behind one C entry point. Both sides are compiled from the same tree; the ABI
// number changes whenever this table or a type it passes changes shape.
#pragma once

#include <memory>
#include <string>

#include "worker/device.h"

namespace ringmaster::worker::cuda {

inline constexpr int kModuleAbi = 2;

struct EngineApi {
  int abi = kModuleAbi;
  Result<int> (*device_count)();
  Result<std::unique_ptr<DeviceEngine>> (*make_engine)(const Model&, const OptimizerConfig&, const DeviceConfig&,
                                                       collectives::Communicator*);
  Result<double> (*gemm_seconds)(const GemmLog&, Precision, int, int);
};

}  // namespace ringmaster::worker::cuda

// Defined in the module (worker/cuda/engine.cc).
extern "C" const ringmaster::worker::cuda::EngineApi* ringmaster_cuda_engine_api();
