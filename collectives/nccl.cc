// The NCCL backend (CUDA builds only; see nccl.h).
#include "collectives/nccl.h"
#include "collectives/nccl_api.h"

#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nccl.h>

#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include "collectives/call_check.h"
#include "collectives/executor.h"

namespace ringmaster::collectives {
namespace {

ncclDataType_t nccl_type(DataType t) {
  switch (t) {
    case DataType::kFloat32: return ncclFloat32;
    case DataType::kFloat64: return ncclFloat64;
    case DataType::kInt32: return ncclInt32;
    case DataType::kInt64: return ncclInt64;
    case DataType::kFloat16: return ncclFloat16;
    case DataType::kBFloat16: return ncclBfloat16;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAverage: return ncclAvg;
    case ReduceOp::kMin: return ncclMin;
    case ReduceOp::kMax: return ncclMax;
  }
  return ncclSum;
}

Status cuda(cudaError_t e, const char* what) {
  return e == cudaSuccess ? Status::ok()
                          : Status(StatusCode::kInternal, fmt::format("{}: {}", what, cudaGetErrorString(e)));
}
Status nccl(ncclResult_t r, const char* what) {
  return r == ncclSuccess || r == ncclInProgress
             ? Status::ok()
             : Status(StatusCode::kUnavailable, fmt::format("{}: {}", what, ncclGetErrorString(r)));
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, int64_t* check, int rank, int size, int device,
                   CommunicatorOptions o)
      : comm_(comm), stream_(stream), check_(check), rank_(rank), size_(size), device_(device), options_(o) {}
  ~NcclCommunicator() override {
    executor_.submit([this] {
      cudaSetDevice(device_);
      if (broken_.is_ok()) ncclCommDestroy(comm_);
      cudaFree(check_);
      cudaStreamDestroy(stream_);
      return Status::ok();
    }).wait();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  Status allreduce(const void* in, void* out, std::size_t count, DataType t, ReduceOp op, Millis timeout) override {
    return allreduce_async(in, out, count, t, op, timeout).get();
  }
  Work allreduce_async(const void* in, void* out, std::size_t count, DataType t, ReduceOp op, Millis timeout) override {
    // With a followed stream, the data is ready once what the caller enqueued so far has run.
    cudaEvent_t ready = nullptr;
    if (follow_ != nullptr) {
      Status s = cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
      if (s) s = cuda(cudaEventRecord(ready, follow_), "cudaEventRecord (the followed stream)");
      if (!s) {
        if (ready != nullptr) cudaEventDestroy(ready);
        return executor_.submit([s] { return s; });
      }
    }
    return submit(CallKind::kAllreduce, t, op, count, 0, timeout, [=, this] {
      if (ready != nullptr) {
        const Status s = cuda(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
        cudaEventDestroy(ready);  // released once the wait has been satisfied
        if (!s) return s;
      }
      return nccl(ncclAllReduce(in, out, count, nccl_type(t), nccl_op(op), comm_, stream_), "ncclAllReduce");
    });
  }
  void follow(cudaStream_t stream) { follow_ = stream; }
  Status broadcast(void* data, std::size_t count, DataType t, int root, Millis timeout) override {
    if (root < 0 || root >= size_)
      return invalid_argument(fmt::format("broadcast: root {} is outside the world of size {}", root, size_));
    return submit(CallKind::kBroadcast, t, ReduceOp::kSum, count, root, timeout, [=, this] {
             return nccl(ncclBroadcast(data, data, count, nccl_type(t), root, comm_, stream_), "ncclBroadcast");
           }).get();
  }
  Status allgather(const void* in, void* out, std::size_t count, DataType t, Millis timeout) override {
    return submit(CallKind::kAllgather, t, ReduceOp::kSum, count, 0, timeout, [=, this] {
             return nccl(ncclAllGather(in, out, count, nccl_type(t), comm_, stream_), "ncclAllGather");
           }).get();
  }
  Status reduce_scatter(const void* in, void* out, std::size_t count, DataType t, ReduceOp op,
                        Millis timeout) override {
    return submit(CallKind::kReduceScatter, t, op, count, 0, timeout, [=, this] {
             return nccl(ncclReduceScatter(in, out, count, nccl_type(t), nccl_op(op), comm_, stream_),
                         "ncclReduceScatter");
           }).get();
  }
  Status barrier(Millis timeout) override {
    return submit(CallKind::kBarrier, DataType::kInt64, ReduceOp::kSum, 0, 0, timeout, [] { return Status::ok(); }).get();
  }

 private:
  // Runs `launch` on the executor after the same-call check, then waits for the stream.
  Work submit(CallKind kind, DataType t, ReduceOp op, std::size_t count, int root, Millis timeout,
              std::function<Status()> launch) {
    const Millis limit = timeout.count() > 0 ? timeout : options_.timeout;
    return executor_.submit([=, this, launch = std::move(launch)]() -> Status {
      if (!broken_.is_ok()) return broken_;
      const Deadline deadline = Deadline::after(limit);
      Status s = run(kind, t, op, count, root, launch, deadline);
      if (!s && broken_.is_ok()) {
        broken_ = s;
        ncclCommAbort(comm_);
      }
      return s;
    });
  }

  Status run(CallKind kind, DataType t, ReduceOp op, std::size_t count, int root, const std::function<Status()>& launch,
             Deadline deadline) {
    if (auto s = cuda(cudaSetDevice(device_), "cudaSetDevice"); !s) return s;
    // Same-call check (call_check.h) on the device, through NCCL itself.
    const CallSignature sig = make_signature(++seq_, kind, t, op, count, root);
    CallCheck v = encode_call_check(sig);
    if (auto s = cuda(cudaMemcpyAsync(check_, v.data(), sizeof v, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
        !s)
      return s;
    if (auto s = nccl(ncclAllReduce(check_, check_, v.size(), ncclInt64, ncclMax, comm_, stream_),
                      "ncclAllReduce (call check)");
        !s)
      return s;
    if (auto s = cuda(cudaMemcpyAsync(v.data(), check_, sizeof v, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
        !s)
      return s;
    if (auto s = wait(deadline, "the call check"); !s) return s;
    if (auto s = verify_call_check(v, sig, rank_); !s) return s;
    if (auto s = launch(); !s) return s;
    return wait(deadline, "the collective");
  }

  // Polls the stream and NCCL's asynchronous error until done or the deadline.
  Status wait(Deadline deadline, const char* what) {
    for (;;) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return Status::ok();
      if (q != cudaErrorNotReady) return cuda(q, "cudaStreamQuery");
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) return nccl(async, "NCCL");
      if (deadline.expired())
        return Status(StatusCode::kDeadlineExceeded,
                      fmt::format("rank {}: {} did not complete in time on GPU {} (a rank is missing, dead or in "
                                  "another call); the NCCL communicator was aborted",
                                  rank_, what, device_));
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  ncclComm_t comm_;
  cudaStream_t stream_;
  cudaStream_t follow_ = nullptr;  // set once, before the collectives that use it
  int64_t* check_;  // a CallCheck on the device
  int rank_, size_, device_;
  CommunicatorOptions options_;
  uint64_t seq_ = 0;  // executor thread only
  Status broken_;     // executor thread only
  SerialExecutor executor_;  // last: joined first
};

Status follow_stream(Communicator& comm, void* cuda_stream) {
  auto* nccl_comm = dynamic_cast<NcclCommunicator*>(&comm);
  if (nccl_comm == nullptr)
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("nccl_follow_stream: the communicator is {}, not nccl", comm.backend()));
  nccl_comm->follow(static_cast<cudaStream_t>(cuda_stream));
  return Status::ok();
}

Result<std::unique_ptr<Communicator>> make_communicator(Store& store, const StoreIdentity& id, int device,
                                                        CommunicatorOptions options, Deadline deadline) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    return Status(StatusCode::kFailedPrecondition, "RINGMASTER_COLLECTIVES=nccl: no CUDA device is visible");
  if (device < 0 || device >= devices)
    return invalid_argument(fmt::format("nccl: device {} does not exist ({} visible)", device, devices));
  if (auto s = cuda(cudaSetDevice(device), "cudaSetDevice"); !s) return s;
  ncclUniqueId uid{};
  if (id.rank == 0) {
    if (auto s = nccl(ncclGetUniqueId(&uid), "ncclGetUniqueId"); !s) return s;
    if (auto s = store.set("nccl/id", std::string(reinterpret_cast<const char*>(&uid), sizeof uid)); !s) return s;
  } else {
    auto v = store.get("nccl/id", deadline);
    if (!v) return v.status().with_context("waiting for rank 0's NCCL id");
    if (v->size() != sizeof uid) return data_loss("nccl/id in the store has the wrong size");
    std::memcpy(&uid, v->data(), sizeof uid);
  }
  // Non-blocking initialization, so a missing rank is a timeout, not a hang.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  if (auto s = nccl(ncclCommInitRankConfig(&comm, id.world_size, uid, id.rank, &config), "ncclCommInitRankConfig"); !s)
    return s;
  for (;;) {
    ncclResult_t state = ncclInProgress;
    ncclCommGetAsyncError(comm, &state);
    if (state == ncclSuccess) break;
    if (state != ncclInProgress) {
      ncclCommAbort(comm);
      return nccl(state, "ncclCommInitRankConfig");
    }
    if (deadline.expired()) {
      ncclCommAbort(comm);
      return Status(StatusCode::kDeadlineExceeded, fmt::format("rank {}: NCCL initialization timed out", id.rank));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  cudaStream_t stream = nullptr;
  if (auto s = cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"); !s) return s;
  void* check = nullptr;
  if (auto s = cuda(cudaMalloc(&check, sizeof(CallCheck)), "cudaMalloc"); !s) return s;
  return std::unique_ptr<Communicator>(std::make_unique<NcclCommunicator>(
      comm, stream, static_cast<int64_t*>(check), id.rank, id.world_size, device, options));
}

}  // namespace
}  // namespace ringmaster::collectives

extern "C" const ringmaster::collectives::nccl_module::NcclApi* ringmaster_nccl_api() {
  using namespace ringmaster::collectives;
  static const nccl_module::NcclApi api{nccl_module::kModuleAbi, &follow_stream, &make_communicator};
  return &api;
}
