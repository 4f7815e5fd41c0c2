// Training on a GPU: the engine the train loop (trainer.h) hands its steps to with --device cuda.
//
// The host Model and Optimizer stay the source of truth at the edges (initialization, checkpoints,
// the broadcast of rank 0's state, the replicas' checksum): upload() copies them to the device,
// download() back. In between every step runs on the device:
//   the batch is copied from pinned host memory; forward (cuBLAS GEMMs, our fused bias+ReLU,
//   im2col, pooling and dropout kernels), softmax cross-entropy, backward, the gradient sum over
//   ranks, and the SGD or Adam update (our kernels), all on one stream, and captured in a CUDA
//   graph once the batch's shape has run once (a world of one; see DeviceConfig::graphs).
// Steps are asynchronous: train_step() returns once the step is enqueued, and the host prepares
// the next batch while the device runs. The loss and accuracy are summed on the device and read
// by take_train_sums() (the train loop does at each epoch's end and before a checkpoint).
//
// Data-parallel ranks sum gradients through the communicator: with the nccl backend bucket by
// bucket on the communicator's own stream while backward still runs (each bucket waits on an event
// of the compute stream; gradient_sync.h), with any other backend (several processes sharing one
// GPU, where NCCL cannot run) through a pinned host copy of the gradients.
//
// A build without CUDA, or a machine without a GPU, gets a clear error from make_cuda_engine and
// never a CPU fallback. Not thread-safe: one training thread drives an engine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "collectives/communicator.h"
#include "common/status.h"
#include "worker/blas.h"
#include "worker/dataset.h"
#include "worker/model.h"
#include "worker/optimizer.h"

namespace ringmaster::worker {

// GEMM arithmetic on the GPU: fp32 (IEEE float32), tf32 (tensor cores, 10-bit mantissa inputs) or
// bf16 (bfloat16 inputs, float32 accumulation). Weights, activations and updates stay float32.
enum class Precision { kFp32, kTf32, kBf16 };
// "fp32" | "tf32" | "bf16"; fails with kInvalidArgument naming --precision.
Result<Precision> parse_precision(std::string_view text);
std::string_view name_of(Precision precision);

struct DeviceConfig {
  Precision precision = Precision::kFp32;
  bool graphs = true;     // capture each step in a CUDA graph (a world of one)
  int device = -1;        // GPU index; -1: the local rank modulo the visible GPUs
  int local_rank = 0;     // for device -1
  float dropout = 0.0f;   // the model's dropout probability (as given to Model::create)
  int64_t bucket_bytes = 1 << 20;  // gradient buckets with the nccl backend
};

// Sums over the batches since the last take (training) or over one evaluation.
struct DeviceSums {
  double loss_sum = 0.0;  // sum of per-sample losses
  double correct = 0.0;
  double count = 0.0;
};

class DeviceEngine {
 public:
  virtual ~DeviceEngine() = default;
  // "NVIDIA H200 (GPU 0, sm_90, 139.8 GiB), fp32, CUDA graphs"
  virtual std::string describe() const = 0;
  // Parameters and optimizer state (and its step count) from the host objects to the device.
  virtual Status upload(const Model& model, Optimizer& optimizer) = 0;
  // And back (waits for the device).
  virtual Status download(Model& model, Optimizer& optimizer) = 0;
  // Enqueues one step on `batch`: its gradient weighs `share` of the global batch's mean loss
  // (labels / global_count), summed over ranks, then the optimizer takes learning rate `lr`.
  // dropout_seed picks this step's dropout masks.
  virtual Status train_step(const Batch& batch, float share, float lr, uint64_t dropout_seed) = 0;
  // The training sums since the last call (waits for the device), then zeroes them.
  virtual Result<DeviceSums> take_train_sums() = 0;
  // Loss and accuracy over every batch of the loader's epoch 0 (no dropout, no update).
  virtual Result<DeviceSums> evaluate(BatchLoader& loader) = 0;
  // Waits for everything enqueued; reports any asynchronous error.
  virtual Status synchronize() = 0;
  // The GEMMs one training step on `batch` rows runs (shapes as worker/blas.h logs them), for the
  // benchmark's cuBLAS reference; filled by the first step of each batch size.
  virtual GemmLog gemm_log(int64_t batch) const = 0;
  // Allocator figures and graph count, one line.
  virtual std::string stats() const = 0;
};

// True when this build has the CUDA path (nvcc was found when it was built).
bool cuda_built();
// Visible CUDA devices; fails with kFailedPrecondition naming CUDA's reason when there are none
// (or this build has no CUDA).
Result<int> cuda_device_count();

// The engine for `model` (its spec, sample shape and parameter layout) with `optimizer`'s kind and
// hyperparameters. comm: the data-parallel ranks, or null. Fails with kFailedPrecondition when this
// build has no CUDA or no GPU is visible, kInvalidArgument for a bad precision or device index.
Result<std::unique_ptr<DeviceEngine>> make_cuda_engine(const Model& model, const OptimizerConfig& optimizer,
                                                       const DeviceConfig& config, collectives::Communicator* comm);

// Times `log`'s GEMMs with bare cuBLAS on the engine's precision, `repeats` times after a warm-up;
// seconds per pass. For the benchmark's achieved-versus-peak figure.
Result<double> cuda_gemm_seconds(const GemmLog& log, Precision precision, int device, int repeats);

}  // namespace ringmaster::worker
