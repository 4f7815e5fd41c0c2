// device.h's functions in the executable: they load the CUDA module (libringmaster-cuda.so, built
// beside ringmaster where nvcc exists; common/shared_module.h) on first use, so a process that
// never trains on a GPU never maps CUDA. In a build without CUDA they say so; never a CPU fallback.
#include "common/shared_module.h"
#include "worker/cuda/module_api.h"
#include "worker/device.h"

namespace ringmaster::worker {
namespace {

#ifdef RINGMASTER_CUDA_MODULE_PATH
constexpr bool kBuilt = true;
constexpr const char* kBuildPath = RINGMASTER_CUDA_MODULE_PATH;
#else
constexpr bool kBuilt = false;
constexpr const char* kBuildPath = "";
#endif

Result<const cuda::EngineApi*> api() {
  if (!kBuilt)
    return Status(StatusCode::kFailedPrecondition,
                  "--device cuda: this ringmaster was built without CUDA (nvcc was not found at build time); "
                  "install the CUDA toolkit, rebuild, and run on a machine with a GPU");
  auto table = shared_module_table<cuda::EngineApi>(cuda_module_spec(kBuildPath), "ringmaster_cuda_engine_api",
                                                     cuda::kModuleAbi);
  if (!table) return table.status().with_context("--device cuda");
  return table;
}

}  // namespace

bool cuda_built() { return kBuilt; }

Result<int> cuda_device_count() {
  auto a = api();
  if (!a) return a.status();
  return (*a)->device_count();
}

Result<std::unique_ptr<DeviceEngine>> make_cuda_engine(const Model& model, const OptimizerConfig& optimizer,
                                                       const DeviceConfig& config, collectives::Communicator* comm) {
  auto a = api();
  if (!a) return a.status();
  return (*a)->make_engine(model, optimizer, config, comm);
}

Result<double> cuda_gemm_seconds(const GemmLog& log, Precision precision, int device, int repeats) {
  auto a = api();
  if (!a) return a.status();
  return (*a)->gemm_seconds(log, precision, device, repeats);
}

}  // namespace ringmaster::worker
