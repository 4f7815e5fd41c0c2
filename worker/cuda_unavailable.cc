// The CUDA path in a build without CUDA (no nvcc when it was built): says so, never falls back.
#include "worker/device.h"

namespace ringmaster::worker {
namespace {

Status not_built() {
  return Status(StatusCode::kFailedPrecondition,
                "--device cuda: this ringmaster was built without CUDA (nvcc was not found at build time); "
                "install the CUDA toolkit, rebuild, and run on a machine with a GPU");
}

}  // namespace

bool cuda_built() { return false; }

Result<int> cuda_device_count() { return not_built(); }

Result<std::unique_ptr<DeviceEngine>> make_cuda_engine(const Model&, const OptimizerConfig&, const DeviceConfig&,
                                                       collectives::Communicator*) {
  return not_built();
}

Result<double> cuda_gemm_seconds(const GemmLog&, const std::string&, int, int) { return not_built(); }

}  // namespace ringmaster::worker
