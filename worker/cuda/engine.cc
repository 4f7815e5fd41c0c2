// The CUDA training engine (see worker/device.h): the network planned from the model's spec, one
// workspace of device buffers per batch size, cuBLAS for the GEMMs, kernels.cu for the rest, and
// one CUDA graph per (batch size, staging slot) once a step of that size has run eagerly.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "collectives/nccl.h"
#include "common/strings.h"
#include "worker/cuda/allocator.h"
#include "worker/cuda/check.h"
#include "worker/cuda/kernels.h"
#include "worker/cuda/module_api.h"
#include "worker/device.h"
#include "worker/gradient_sync.h"

namespace ringmaster::worker {
namespace {

using cuda::ConvShape;
using cuda::DeviceAllocator;
using cuda::DeviceBuffer;
using cuda::StepScalars;

// One step of the network. Flatten is no step: NCHW is already [n, c*h*w] in memory.
struct Op {
  enum class Kind { kLinear, kConv, kPool, kDropout } kind = Kind::kLinear;
  std::string name;
  bool relu = false;            // linear, conv: a ReLU follows (fused)
  int64_t in = 0, out = 0;      // elements per sample in and out
  ConvShape conv;               // conv (n filled per workspace); pool: ci planes of h x w, k = window
  int64_t weight = -1, bias = -1;  // parameter arena offsets
  float p = 0.0f;               // dropout
  int salt = 0;                 // dropout
  bool has_params() const { return weight >= 0; }
};

Result<int64_t> offset_of(const Model& model, const std::string& name, int64_t size) {
  for (const ParamInfo& p : model.param_infos())
    if (p.name == name) {
      if (shape_size(p.shape) != size)
        return internal_error(fmt::format("cuda engine: {} has {} elements in the model, {} in the plan", name,
                                          shape_size(p.shape), size));
      return p.offset;
    }
  return internal_error(fmt::format("cuda engine: the model {} has no parameter {}", model.spec(), name));
}

// The numbers of a canonical spec's arguments ("784-512-256-10"); Model::create has checked them.
std::vector<int64_t> widths_of(const std::string& args) {
  std::vector<int64_t> out;
  for (const std::string& part : split(args, '-')) out.push_back(parse_int<int64_t>(part).value_or(0));
  return out;
}

// The device plan of a model from its canonical spec (model.h), checked against its parameters.
Result<std::vector<Op>> plan(const Model& model, float dropout) {
  const std::string& spec = model.spec();
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::vector<int64_t> v = widths_of(spec.substr(colon + 1));
  std::vector<Op> ops;
  int salt = 0;
  auto linear = [&](const std::string& name, int64_t in, int64_t out, bool relu) -> Status {
    Op op;
    op.kind = Op::Kind::kLinear;
    op.name = name;
    op.in = in, op.out = out, op.relu = relu;
    auto w = offset_of(model, name + ".weight", in * out);
    if (!w) return w.status();
    auto b = offset_of(model, name + ".bias", out);
    if (!b) return b.status();
    op.weight = *w, op.bias = *b;
    ops.push_back(op);
    if (relu && dropout > 0.0f) {
      Op d;
      d.kind = Op::Kind::kDropout;
      d.name = "dropout";
      d.in = d.out = out, d.p = dropout, d.salt = salt++;
      ops.push_back(d);
    }
    return Status::ok();
  };
  if (kind == "mlp") {
    for (std::size_t i = 0; i + 1 < v.size(); ++i)
      if (Status s = linear(fmt::format("fc{}", i + 1), v[i], v[i + 1], i + 2 < v.size()); !s) return s;
  } else if (kind == "cnn") {
    const Shape& sample = model.sample_shape();
    int64_t c = sample[0], h = sample[1], w = sample[2];
    for (int layer = 1; layer <= 2; ++layer) {
      Op conv;
      conv.kind = Op::Kind::kConv;
      conv.name = fmt::format("conv{}", layer);
      conv.relu = true;
      conv.conv = ConvShape{0, c, h, w, v[static_cast<std::size_t>(layer - 1)], 5, 2, h, w};
      conv.in = c * h * w;
      conv.out = conv.conv.co * h * w;
      auto wo = offset_of(model, conv.name + ".weight", conv.conv.co * c * 25);
      if (!wo) return wo.status();
      auto bo = offset_of(model, conv.name + ".bias", conv.conv.co);
      if (!bo) return bo.status();
      conv.weight = *wo, conv.bias = *bo;
      ops.push_back(conv);
      c = conv.conv.co;
      Op pool;
      pool.kind = Op::Kind::kPool;
      pool.name = fmt::format("pool{}", layer);
      pool.conv = ConvShape{0, c, h, w, c, 2, 0, h / 2, w / 2};
      pool.in = c * h * w;
      h /= 2, w /= 2;
      pool.out = c * h * w;
      ops.push_back(pool);
    }
    if (Status s = linear("fc1", c * h * w, v[2], true); !s) return s;
    const int64_t classes = shape_size(model.param_infos().back().shape);  // fc2.bias
    if (Status s = linear("fc2", v[2], classes, false); !s) return s;
  } else {
    return invalid_argument(fmt::format("--device cuda: no device plan for --model {}", spec));
  }
  return ops;
}

// Device buffers for one batch size; the graphs captured on them replay only with them.
struct Workspace {
  int64_t n = 0;
  DeviceBuffer x, labels, row_loss, row_correct, glogits, partial, dt, dcol, grad[2], a16, b16;
  std::vector<DeviceBuffer> act, col, t, idx;  // per op, empty where unused
  cudaGraphExec_t graph[2] = {nullptr, nullptr};
  bool warmed = false;  // one eager step ran (cuBLAS has chosen its kernels)
  GemmLog gemms;        // the GEMMs of one training step
  ~Workspace() {
    for (cudaGraphExec_t& g : graph)
      if (g != nullptr) cudaGraphExecDestroy(g);
  }
};

// Pinned host memory (cudaMallocHost), freed with cudaFreeHost.
struct PinnedFree {
  void operator()(void* p) const { cudaFreeHost(p); }
};
using Pinned = std::unique_ptr<void, PinnedFree>;

Status make_pinned(Pinned& out, std::size_t bytes) {
  void* p = nullptr;
  RM_CUDA_TRY(cudaMallocHost(&p, bytes));
  out.reset(p);
  return Status::ok();
}

class CudaEngine final : public DeviceEngine {
 public:
  CudaEngine(int device, Precision precision, const OptimizerConfig& opt, const DeviceConfig& config)
      : device_(device), precision_(precision), opt_(opt), config_(config), alloc_(device) {}

  ~CudaEngine() override {
    cudaSetDevice(device_);
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    sync_.reset();
    host_sync_.reset();
    workspaces_.clear();
    for (cudaEvent_t& e : slot_free_)
      if (e != nullptr) cudaEventDestroy(e);
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status init(const Model& model, collectives::Communicator* comm) {
    RM_CUDA_TRY(cudaSetDevice(device_));
    auto ops = plan(model, config_.dropout);
    if (!ops) return ops.status();
    ops_ = std::move(*ops);
    sample_ = shape_size(model.sample_shape());
    classes_ = ops_.back().out;
    count_ = model.param_count();
    first_trainable_ = 0;
    while (!ops_[first_trainable_].has_params()) ++first_trainable_;
    cudaDeviceProp prop{};
    RM_CUDA_TRY(cudaGetDeviceProperties(&prop, device_));
    device_name_ = fmt::format("{} (GPU {}, sm_{}{}, {:.1f} GiB)", prop.name, device_, prop.major, prop.minor,
                               static_cast<double>(prop.totalGlobalMem) / (1ULL << 30));
    RM_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    RM_CUDA_TRY(cublasCreate(&cublas_));
    RM_CUDA_TRY(cublasSetStream(cublas_, stream_));
    RM_CUDA_TRY(cublasSetMathMode(cublas_, precision_ == Precision::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                           : CUBLAS_DEFAULT_MATH));
    // cuBLAS's own workspace from us, so that no cudaMalloc happens inside a graph capture.
    constexpr std::size_t kCublasWorkspace = 32u << 20;
    if (Status s = take(cublas_workspace_, kCublasWorkspace); !s) return s;
    RM_CUDA_TRY(cublasSetWorkspace(cublas_, cublas_workspace_.get(), kCublasWorkspace));
    const auto bytes = static_cast<std::size_t>(count_) * sizeof(float);
    if (Status s = take(params_, bytes); !s) return s;
    if (Status s = take(grads_, bytes); !s) return s;
    const int states = opt_.name == "adam" ? 2 : opt_.momentum > 0.0f ? 1 : 0;
    state_.resize(static_cast<std::size_t>(states));
    for (DeviceBuffer& b : state_) {
      if (Status s = take(b, bytes); !s) return s;
      RM_CUDA_TRY(cudaMemsetAsync(b.get(), 0, bytes, stream_));
    }
    if (Status s = take(scalars_, sizeof(StepScalars)); !s) return s;
    if (Status s = take(train_sums_, 3 * sizeof(double)); !s) return s;
    if (Status s = take(eval_sums_, 3 * sizeof(double)); !s) return s;
    RM_CUDA_TRY(cudaMemsetAsync(train_sums_.get(), 0, 3 * sizeof(double), stream_));
    if (Status s = make_pinned(host_scalars_, 2 * sizeof(StepScalars)); !s) return s;
    if (Status s = make_pinned(host_sums_, 3 * sizeof(double)); !s) return s;
    for (cudaEvent_t& e : slot_free_) RM_CUDA_TRY(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    if (comm != nullptr && comm->size() > 1) {
      world_ = comm->size();
      if (comm->backend() == "nccl") {
        if (Status s = collectives::nccl_follow_stream(*comm, stream_); !s) return s;
        sync_ = std::make_unique<GradientSync>(*comm, std::span<float>(grads_.as<float>(), static_cast<std::size_t>(count_)),
                                               static_cast<std::size_t>(config_.bucket_bytes));
      } else {
        if (Status s = make_pinned(host_grads_, bytes); !s) return s;
        host_sync_ = std::make_unique<GradientSync>(
            *comm, std::span<float>(static_cast<float*>(host_grads_.get()), static_cast<std::size_t>(count_)),
            static_cast<std::size_t>(config_.bucket_bytes));
      }
    }
    RM_CUDA_TRY(cudaStreamSynchronize(stream_));
    return Status::ok();
  }

  std::string describe() const override {
    return fmt::format("{}, {}, {}{}", device_name_, name_of(precision_),
                       use_graphs() ? "CUDA graphs" : "eager launches",
                       sync_ ? ", gradients over NCCL (device buckets)"
                       : host_sync_ ? ", gradients through pinned host memory"
                                    : "");
  }

  Status upload(const Model& model, Optimizer& optimizer) override {
    RM_CUDA_TRY(cudaSetDevice(device_));
    const auto bytes = static_cast<std::size_t>(count_) * sizeof(float);
    RM_CUDA_TRY(cudaMemcpyAsync(params_.get(), model.params().data(), bytes, cudaMemcpyHostToDevice, stream_));
    auto state = optimizer.state();
    if (state.size() != state_.size())
      return internal_error(fmt::format("cuda engine: the {} optimizer has {} state buffers, the device {}",
                                        optimizer.name(), state.size(), state_.size()));
    for (std::size_t i = 0; i < state.size(); ++i)
      RM_CUDA_TRY(cudaMemcpyAsync(state_[i].get(), state[i].second.data(), bytes, cudaMemcpyHostToDevice, stream_));
    opt_steps_ = optimizer.step_count();
    RM_CUDA_TRY(cudaStreamSynchronize(stream_));
    return Status::ok();
  }

  Status download(Model& model, Optimizer& optimizer) override {
    RM_CUDA_TRY(cudaSetDevice(device_));
    const auto bytes = static_cast<std::size_t>(count_) * sizeof(float);
    RM_CUDA_TRY(cudaMemcpyAsync(model.params().data(), params_.get(), bytes, cudaMemcpyDeviceToHost, stream_));
    auto state = optimizer.state();
    for (std::size_t i = 0; i < state.size() && i < state_.size(); ++i)
      RM_CUDA_TRY(cudaMemcpyAsync(state[i].second.data(), state_[i].get(), bytes, cudaMemcpyDeviceToHost, stream_));
    RM_CUDA_TRY(cudaStreamSynchronize(stream_));
    optimizer.set_step_count(opt_steps_);
    return Status::ok();
  }

  Status train_step(const Batch& batch, float share, float lr, uint64_t dropout_seed) override {
    const auto n = static_cast<int64_t>(batch.labels.size());
    if (n == 0) return Status::ok();
    auto ws_r = prepare(batch);
    if (!ws_r) return ws_r.status();
    Workspace& ws = **ws_r;
    StepScalars& sc = host_scalars()[slot_];
    sc.lr = lr;
    sc.grad_scale = share / static_cast<float>(n);
    const double t = static_cast<double>(opt_steps_ + 1);
    sc.adam_c1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(opt_.beta1), t)));
    sc.adam_c2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(opt_.beta2), t)));
    sc.dropout_seed = dropout_seed;
    if (use_graphs() && ws.warmed) {
      if (ws.graph[slot_] == nullptr)
        if (Status s = capture(ws); !s) return s.with_context("capturing the training step in a CUDA graph");
      RM_CUDA_TRY(cudaGraphLaunch(ws.graph[slot_], stream_));
      ++opt_steps_;
    } else {
      if (Status s = enqueue_step(ws, /*capturing=*/false); !s) return s;
      ws.warmed = true;
    }
    return finish_slot();
  }

  Result<DeviceSums> take_train_sums() override { return take_sums(train_sums_, /*reset=*/true); }

  Result<DeviceSums> evaluate(BatchLoader& loader) override {
    RM_CUDA_TRY(cudaSetDevice(device_));
    RM_CUDA_TRY(cudaMemsetAsync(eval_sums_.get(), 0, 3 * sizeof(double), stream_));
    loader.start_epoch(0);
    while (const Batch* b = loader.next()) {
      if (b->labels.empty()) continue;
      auto ws = prepare(*b);
      if (!ws) return ws.status();
      if (Status s = enqueue_inputs(**ws); !s) return s;
      if (Status s = forward(**ws, /*training=*/false, eval_sums_.as<double>()); !s) return s;
      if (Status s = finish_slot(); !s) return s;
    }
    return take_sums(eval_sums_, /*reset=*/false);
  }

  Status synchronize() override {
    RM_CUDA_TRY(cudaSetDevice(device_));
    RM_CUDA_TRY(cudaStreamSynchronize(stream_));
    return Status::ok();
  }

  GemmLog gemm_log(int64_t batch) const override {
    auto it = workspaces_.find(batch);
    return it == workspaces_.end() ? GemmLog{} : it->second->gemms;
  }

  std::string stats() const override {
    const DeviceAllocator::Stats s = alloc_.stats();
    int graphs = 0;
    for (const auto& [n, ws] : workspaces_)
      for (cudaGraphExec_t g : ws->graph) graphs += g != nullptr ? 1 : 0;
    return fmt::format("device memory: {:.1f} MiB reserved, peak {:.1f} MiB in use, {} cudaMalloc calls, {} cache "
                       "hits; {} workspaces, {} CUDA graphs",
                       static_cast<double>(s.reserved_bytes) / (1 << 20),
                       static_cast<double>(s.peak_in_use_bytes) / (1 << 20), s.device_mallocs, s.cache_hits,
                       workspaces_.size(), graphs);
  }

 private:
  bool use_graphs() const { return config_.graphs && world_ == 1; }
  StepScalars* host_scalars() { return static_cast<StepScalars*>(host_scalars_.get()); }

  Status take(DeviceBuffer& out, std::size_t bytes) {
    auto b = alloc_.allocate(bytes);
    if (!b) return b.status();
    out = std::move(*b);
    return Status::ok();
  }

  // Waits until the staging slot is free, copies the batch into it and returns the batch size's
  // workspace. The slot's previous step was two steps ago: the host runs at most one step ahead.
  Result<Workspace*> prepare(const Batch& batch) {
    RM_CUDA_TRY(cudaSetDevice(device_));
    const auto n = static_cast<int64_t>(batch.labels.size());
    if (batch.images.size() != n * sample_)
      return internal_error(fmt::format("cuda engine: a batch of {} labels has {} image values, expected {}", n,
                                        batch.images.size(), n * sample_));
    if (n > staging_rows_) {  // grow the staging buffers; graphs captured on the old ones go
      RM_CUDA_TRY(cudaStreamSynchronize(stream_));
      for (auto& [rows, ws] : workspaces_)
        for (cudaGraphExec_t& g : ws->graph)
          if (g != nullptr) cudaGraphExecDestroy(g), g = nullptr;
      for (int s = 0; s < 2; ++s) {
        if (Status st = make_pinned(staging_x_[s], static_cast<std::size_t>(n * sample_) * sizeof(float)); !st) return st;
        if (Status st = make_pinned(staging_labels_[s], static_cast<std::size_t>(n) * sizeof(int32_t)); !st) return st;
      }
      staging_rows_ = n;
    }
    RM_CUDA_TRY(cudaEventSynchronize(slot_free_[slot_]));
    std::memcpy(staging_x_[slot_].get(), batch.images.data(), static_cast<std::size_t>(n * sample_) * sizeof(float));
    std::memcpy(staging_labels_[slot_].get(), batch.labels.data(), static_cast<std::size_t>(n) * sizeof(int32_t));
    auto it = workspaces_.find(n);
    if (it != workspaces_.end()) return it->second.get();
    auto ws = std::make_unique<Workspace>();
    if (Status s = allocate(*ws, n); !s) return s.with_context(fmt::format("buffers for a batch of {}", n));
    Workspace* out = ws.get();
    workspaces_.emplace(n, std::move(ws));
    return out;
  }

  Status finish_slot() {
    RM_CUDA_TRY(cudaEventRecord(slot_free_[slot_], stream_));
    slot_ ^= 1;
    return Status::ok();
  }

  Status allocate(Workspace& ws, int64_t n) {
    ws.n = n;
    auto f32 = [&](DeviceBuffer& b, int64_t count) { return take(b, static_cast<std::size_t>(count) * sizeof(float)); };
    int64_t largest = n * sample_, grad = 0, dt = 0, dcol = 0, partial = 0;
    if (Status s = f32(ws.x, n * sample_); !s) return s;
    if (Status s = take(ws.labels, static_cast<std::size_t>(n) * sizeof(int32_t)); !s) return s;
    if (Status s = f32(ws.row_loss, n); !s) return s;
    if (Status s = take(ws.row_correct, static_cast<std::size_t>(n) * sizeof(int32_t)); !s) return s;
    if (Status s = f32(ws.glogits, n * classes_); !s) return s;
    ws.act.resize(ops_.size());
    ws.col.resize(ops_.size());
    ws.t.resize(ops_.size());
    ws.idx.resize(ops_.size());
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const Op& op = ops_[i];
      if (Status s = f32(ws.act[i], n * op.out); !s) return s;
      largest = std::max(largest, n * op.out);
      if (i > first_trainable_) grad = std::max(grad, n * op.in);
      grad = std::max(grad, n * op.out);
      if (op.has_params()) largest = std::max(largest, op.in * op.out);
      if (op.kind == Op::Kind::kConv) {
        ConvShape s = op.conv;
        s.n = n;
        if (Status st = f32(ws.col[i], s.rows() * s.columns()); !st) return st;
        if (Status st = f32(ws.t[i], s.co * s.columns()); !st) return st;
        dt = std::max(dt, s.co * s.columns());
        if (i > first_trainable_) dcol = std::max(dcol, s.rows() * s.columns());
        partial = std::max(partial, s.co * cuda::sum_chunks(s.columns()));
        largest = std::max({largest, s.rows() * s.columns(), s.co * s.columns(), s.co * s.rows()});
      } else if (op.kind == Op::Kind::kPool) {
        if (Status st = take(ws.idx[i], static_cast<std::size_t>(n * op.out) * sizeof(int32_t)); !st) return st;
      } else if (op.kind == Op::Kind::kLinear) {
        partial = std::max(partial, cuda::sum_chunks(n) * op.out);
      }
    }
    largest = std::max(largest, grad);
    for (DeviceBuffer& g : ws.grad)
      if (Status s = f32(g, std::max<int64_t>(grad, 1)); !s) return s;
    if (dt > 0)
      if (Status s = f32(ws.dt, dt); !s) return s;
    if (dcol > 0)
      if (Status s = f32(ws.dcol, dcol); !s) return s;
    if (Status s = f32(ws.partial, std::max<int64_t>(partial, 1)); !s) return s;
    if (precision_ == Precision::kBf16) {
      if (Status s = take(ws.a16, static_cast<std::size_t>(largest) * 2); !s) return s;
      if (Status s = take(ws.b16, static_cast<std::size_t>(largest) * 2); !s) return s;
    }
    return Status::ok();
  }

  // C [m x n] = op(A) op(B) for row-major operands, as worker/blas.h's gemm (alpha 1, beta 0):
  // cuBLAS is column-major, so it computes C^T = op(B)^T op(A)^T on the same memory.
  Status gemm(Workspace& ws, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
              float* c) {
    if (logging_) ws.gemms.push_back({ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 0.0f});
    const float one = 1.0f, zero = 0.0f;
    const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n);
    const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (precision_ == Precision::kBf16) {
      RM_CUDA_TRY(cuda::to_bfloat16(a, ws.a16.as<uint16_t>(), m * k, stream_));
      RM_CUDA_TRY(cuda::to_bfloat16(b, ws.b16.as<uint16_t>(), k * n, stream_));
      RM_CUDA_TRY(cublasGemmEx(cublas_, opb, opa, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one,
                               ws.b16.get(), CUDA_R_16BF, ldb, ws.a16.get(), CUDA_R_16BF, lda, &zero, c, CUDA_R_32F,
                               static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      return Status::ok();
    }
    RM_CUDA_TRY(cublasSgemm(cublas_, opb, opa, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one, b,
                            ldb, a, lda, &zero, c, static_cast<int>(n)));
    return Status::ok();
  }

  Status enqueue_inputs(Workspace& ws) {
    const int64_t n = ws.n;
    RM_CUDA_TRY(cudaMemcpyAsync(ws.x.get(), staging_x_[slot_].get(), static_cast<std::size_t>(n * sample_) * sizeof(float),
                                cudaMemcpyHostToDevice, stream_));
    RM_CUDA_TRY(cudaMemcpyAsync(ws.labels.get(), staging_labels_[slot_].get(), static_cast<std::size_t>(n) * sizeof(int32_t),
                                cudaMemcpyHostToDevice, stream_));
    RM_CUDA_TRY(cudaMemcpyAsync(scalars_.get(), &host_scalars()[slot_], sizeof(StepScalars), cudaMemcpyHostToDevice,
                                stream_));
    return Status::ok();
  }

  Status forward(Workspace& ws, bool training, double* sums) {
    const int64_t n = ws.n;
    const float* params = params_.as<float>();
    const auto* sc = scalars_.as<StepScalars>();
    const float* in = ws.x.as<float>();
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const Op& op = ops_[i];
      float* y = ws.act[i].as<float>();
      switch (op.kind) {
        case Op::Kind::kLinear:
          if (Status s = gemm(ws, false, true, n, op.out, op.in, in, params + op.weight, y); !s) return s;
          RM_CUDA_TRY(cuda::bias_activation(y, params + op.bias, n, op.out, op.relu, stream_));
          break;
        case Op::Kind::kConv: {
          ConvShape s = op.conv;
          s.n = n;
          RM_CUDA_TRY(cuda::im2col(in, ws.col[i].as<float>(), s, stream_));
          if (Status st = gemm(ws, false, false, s.co, s.columns(), s.rows(), params + op.weight, ws.col[i].as<float>(),
                               ws.t[i].as<float>());
              !st)
            return st;
          RM_CUDA_TRY(cuda::conv_output(ws.t[i].as<float>(), params + op.bias, y, s, op.relu, stream_));
          break;
        }
        case Op::Kind::kPool:
          RM_CUDA_TRY(cuda::maxpool_forward(in, y, ws.idx[i].as<int32_t>(), n * op.conv.ci, op.conv.h, op.conv.w,
                                            op.conv.k, stream_));
          break;
        case Op::Kind::kDropout:
          if (training) {
            RM_CUDA_TRY(cuda::dropout_forward(in, y, n * op.in, op.p, op.salt, sc, stream_));
          } else {
            RM_CUDA_TRY(cudaMemcpyAsync(y, in, static_cast<std::size_t>(n * op.in) * sizeof(float),
                                        cudaMemcpyDeviceToDevice, stream_));
          }
          break;
      }
      in = y;
    }
    RM_CUDA_TRY(cuda::softmax_cross_entropy(in, ws.labels.as<int32_t>(), n, classes_, sc,
                                            training ? ws.glogits.as<float>() : nullptr, ws.row_loss.as<float>(),
                                            ws.row_correct.as<int32_t>(), stream_));
    RM_CUDA_TRY(cuda::accumulate_loss(ws.row_loss.as<float>(), ws.row_correct.as<int32_t>(), n, sums, stream_));
    return Status::ok();
  }

  Status backward(Workspace& ws) {
    const int64_t n = ws.n;
    const float* params = params_.as<float>();
    float* grads = grads_.as<float>();
    const auto* sc = scalars_.as<StepScalars>();
    float* g = ws.glogits.as<float>();
    for (std::size_t i = ops_.size(); i-- > first_trainable_;) {
      const Op& op = ops_[i];
      const float* in = i == 0 ? ws.x.as<float>() : ws.act[i - 1].as<float>();
      float* gin = i > first_trainable_ ? ws.grad[i % 2].as<float>() : nullptr;
      switch (op.kind) {
        case Op::Kind::kLinear:
          if (op.relu) RM_CUDA_TRY(cuda::relu_backward(g, ws.act[i].as<float>(), n * op.out, stream_));
          // dW [out, in] = dY^T X; db = column sums of dY; dX = dY W
          if (Status s = gemm(ws, true, false, op.out, op.in, n, g, in, grads + op.weight); !s) return s;
          RM_CUDA_TRY(cuda::column_sums(g, n, op.out, ws.partial.as<float>(), grads + op.bias, stream_));
          if (gin != nullptr)
            if (Status s = gemm(ws, false, false, n, op.in, op.out, g, params + op.weight, gin); !s) return s;
          break;
        case Op::Kind::kConv: {
          ConvShape s = op.conv;
          s.n = n;
          float* dt = ws.dt.as<float>();
          RM_CUDA_TRY(cuda::conv_output_backward(g, ws.act[i].as<float>(), dt, s, op.relu, stream_));
          RM_CUDA_TRY(cuda::row_sums(dt, s.co, s.columns(), ws.partial.as<float>(), grads + op.bias, stream_));
          // dW [co, ckk] = dT col^T; dcol = W^T dT, scattered back by col2im
          if (Status st = gemm(ws, false, true, s.co, s.rows(), s.columns(), dt, ws.col[i].as<float>(), grads + op.weight);
              !st)
            return st;
          if (gin != nullptr) {
            if (Status st = gemm(ws, true, false, s.rows(), s.columns(), s.co, params + op.weight, dt, ws.dcol.as<float>());
                !st)
              return st;
            RM_CUDA_TRY(cuda::col2im(ws.dcol.as<float>(), gin, s, stream_));
          }
          break;
        }
        case Op::Kind::kPool:
          RM_CUDA_TRY(cuda::maxpool_backward(g, ws.idx[i].as<int32_t>(), gin, n * op.conv.ci, op.conv.h, op.conv.w,
                                             op.conv.k, stream_));
          break;
        case Op::Kind::kDropout:
          RM_CUDA_TRY(cuda::dropout_backward(g, gin, n * op.in, op.p, op.salt, sc, stream_));
          break;
      }
      // This layer's gradients are enqueued: the buckets wholly after its first parameter can go.
      if (op.has_params() && sync_) sync_->ready_from(std::min(op.weight, op.bias));
      g = gin;
    }
    return Status::ok();
  }

  Status update() {
    float* w = params_.as<float>();
    const float* g = grads_.as<float>();
    const auto* sc = scalars_.as<StepScalars>();
    if (opt_.name == "adam") {
      RM_CUDA_TRY(cuda::adam_update(w, g, state_[0].as<float>(), state_[1].as<float>(), count_, opt_.beta1, opt_.beta2,
                                    opt_.epsilon, opt_.weight_decay, sc, stream_));
    } else {
      RM_CUDA_TRY(cuda::sgd_update(w, g, state_.empty() ? nullptr : state_[0].as<float>(), count_, opt_.momentum,
                                   opt_.nesterov, opt_.weight_decay, sc, stream_));
    }
    return Status::ok();
  }

  // The whole step on the stream: inputs, forward, loss, backward, the gradient sum, the update.
  Status enqueue_step(Workspace& ws, bool capturing) {
    logging_ = !capturing && ws.gemms.empty();
    if (Status s = enqueue_inputs(ws); !s) return s;
    if (Status s = forward(ws, /*training=*/true, train_sums_.as<double>()); !s) return s;
    if (sync_) sync_->begin_step();
    Status s = backward(ws);
    logging_ = false;
    if (sync_) {
      // finish() waits for every bucket, also after a failed backward, so none is left in flight.
      Status f = sync_->finish();
      if (!s) return s;
      if (!f) return f;
    } else if (!s) {
      return s;
    }
    if (host_sync_) {
      const auto bytes = static_cast<std::size_t>(count_) * sizeof(float);
      RM_CUDA_TRY(cudaMemcpyAsync(host_grads_.get(), grads_.get(), bytes, cudaMemcpyDeviceToHost, stream_));
      RM_CUDA_TRY(cudaStreamSynchronize(stream_));
      host_sync_->begin_step();
      host_sync_->ready_from(0);
      if (Status f = host_sync_->finish(); !f) return f;
      RM_CUDA_TRY(cudaMemcpyAsync(grads_.get(), host_grads_.get(), bytes, cudaMemcpyHostToDevice, stream_));
    }
    if (Status u = update(); !u) return u;
    ++opt_steps_;
    return Status::ok();
  }

  Status capture(Workspace& ws) {
    RM_CUDA_TRY(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    const int64_t steps = opt_steps_;
    Status s = enqueue_step(ws, /*capturing=*/true);
    opt_steps_ = steps;  // capturing enqueued nothing that ran
    cudaGraph_t graph = nullptr;
    const cudaError_t e = cudaStreamEndCapture(stream_, &graph);
    if (s && e == cudaSuccess) {
      const cudaError_t inst = cudaGraphInstantiate(&ws.graph[slot_], graph, 0);
      if (inst != cudaSuccess) s = cuda::check(inst, "cudaGraphInstantiate", __FILE__, __LINE__);
    } else if (s) {
      s = cuda::check(e, "cudaStreamEndCapture", __FILE__, __LINE__);
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
    return s;
  }

  Result<DeviceSums> take_sums(DeviceBuffer& sums, bool reset) {
    RM_CUDA_TRY(cudaSetDevice(device_));
    RM_CUDA_TRY(cudaMemcpyAsync(host_sums_.get(), sums.get(), 3 * sizeof(double), cudaMemcpyDeviceToHost, stream_));
    RM_CUDA_TRY(cudaStreamSynchronize(stream_));
    const auto* h = static_cast<const double*>(host_sums_.get());
    DeviceSums out{h[0], h[1], h[2]};
    if (reset) RM_CUDA_TRY(cudaMemsetAsync(sums.get(), 0, 3 * sizeof(double), stream_));
    return out;
  }

  int device_;
  Precision precision_;
  OptimizerConfig opt_;
  DeviceConfig config_;
  DeviceAllocator alloc_;  // before every DeviceBuffer: destroyed after them
  std::string device_name_;
  std::vector<Op> ops_;
  std::size_t first_trainable_ = 0;
  int64_t sample_ = 0, classes_ = 0, count_ = 0;
  int world_ = 1;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DeviceBuffer cublas_workspace_, params_, grads_, scalars_, train_sums_, eval_sums_;
  std::vector<DeviceBuffer> state_;  // sgd: momentum (if any); adam: m, v
  Pinned host_scalars_, host_sums_, host_grads_;
  Pinned staging_x_[2], staging_labels_[2];
  int64_t staging_rows_ = 0;
  cudaEvent_t slot_free_[2] = {nullptr, nullptr};
  int slot_ = 0;
  std::map<int64_t, std::unique_ptr<Workspace>> workspaces_;
  int64_t opt_steps_ = 0;
  bool logging_ = false;
  std::unique_ptr<GradientSync> sync_;       // nccl: buckets of device memory
  std::unique_ptr<GradientSync> host_sync_;  // other backends: the pinned host copy
};

Result<int> device_count() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("--device cuda: no usable GPU: cudaGetDeviceCount says {}: {}", cudaGetErrorName(e),
                              cudaGetErrorString(e)));
  }
  if (count == 0) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("--device cuda: no CUDA device is visible{}", visible != nullptr
                                                                               ? fmt::format(" (CUDA_VISIBLE_DEVICES={})", visible)
                                                                               : std::string()));
  }
  return count;
}

Result<std::unique_ptr<DeviceEngine>> make_engine(const Model& model, const OptimizerConfig& optimizer,
                                                  const DeviceConfig& config, collectives::Communicator* comm) {
  auto count = device_count();
  if (!count) return count.status();
  int device = config.device;
  if (device >= *count)
    return invalid_argument(fmt::format("--gpu: expected a device index from 0 to {}, found {}", *count - 1, device));
  if (device < 0) device = std::max(0, config.local_rank) % *count;
  auto engine = std::make_unique<CudaEngine>(device, config.precision, optimizer, config);
  if (Status s = engine->init(model, comm); !s) return s.with_context(fmt::format("setting up GPU {}", device));
  return std::unique_ptr<DeviceEngine>(std::move(engine));
}

Result<double> gemm_seconds(const GemmLog& log, Precision precision, int device, int repeats) {
  if (log.empty()) return invalid_argument("cuda_gemm_seconds: no GEMMs to time");
  RM_CUDA_TRY(cudaSetDevice(device));
  DeviceAllocator alloc(device);
  std::size_t largest = 0;
  for (const GemmCall& g : log)
    largest = std::max({largest, static_cast<std::size_t>(g.m) * static_cast<std::size_t>(g.k),
                        static_cast<std::size_t>(g.k) * static_cast<std::size_t>(g.n),
                        static_cast<std::size_t>(g.m) * static_cast<std::size_t>(g.n)});
  auto a = alloc.allocate(largest * sizeof(float));
  auto b = alloc.allocate(largest * sizeof(float));
  auto c = alloc.allocate(largest * sizeof(float));
  if (!a || !b || !c) return !a ? a.status() : !b ? b.status() : c.status();
  RM_CUDA_TRY(cudaMemset(a->get(), 0, largest * sizeof(float)));
  RM_CUDA_TRY(cudaMemset(b->get(), 0, largest * sizeof(float)));
  cublasHandle_t h = nullptr;
  RM_CUDA_TRY(cublasCreate(&h));
  std::unique_ptr<cublasContext, decltype(&cublasDestroy)> guard(h, &cublasDestroy);
  RM_CUDA_TRY(cublasSetMathMode(h, precision == Precision::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  const float one = 1.0f, zero = 0.0f;
  auto pass = [&]() -> Status {
    for (const GemmCall& g : log) {
      const cublasOperation_t opa = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
      const int lda = g.trans_a ? g.m : g.k, ldb = g.trans_b ? g.k : g.n;
      if (precision == Precision::kBf16) {
        // bfloat16 operands as the engine feeds them (the conversion is not timed here)
        RM_CUDA_TRY(cublasGemmEx(h, opb, opa, g.n, g.m, g.k, &one, b->get(), CUDA_R_16BF, ldb, a->get(), CUDA_R_16BF,
                                 lda, &zero, c->get(), CUDA_R_32F, g.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      } else {
        RM_CUDA_TRY(cublasSgemm(h, opb, opa, g.n, g.m, g.k, &one, b->as<float>(), ldb, a->as<float>(), lda, &zero,
                                c->as<float>(), g.n));
      }
    }
    return Status::ok();
  };
  if (Status s = pass(); !s) return s;
  RM_CUDA_TRY(cudaDeviceSynchronize());
  cudaEvent_t start = nullptr, stop = nullptr;
  RM_CUDA_TRY(cudaEventCreate(&start));
  RM_CUDA_TRY(cudaEventCreate(&stop));
  RM_CUDA_TRY(cudaEventRecord(start));
  for (int r = 0; r < repeats; ++r)
    if (Status s = pass(); !s) return s;
  RM_CUDA_TRY(cudaEventRecord(stop));
  RM_CUDA_TRY(cudaEventSynchronize(stop));
  float ms = 0.0f;
  RM_CUDA_TRY(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return static_cast<double>(ms) / 1e3 / std::max(1, repeats);
}

}  // namespace
}  // namespace ringmaster::worker

extern "C" const ringmaster::worker::cuda::EngineApi* ringmaster_cuda_engine_api() {
  using namespace ringmaster::worker;
  static const cuda::EngineApi api{cuda::kModuleAbi, &device_count, &make_engine, &gemm_seconds};
  return &api;
}
