#include "ps/server.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/files.h"
#include "ps/mode.h"
#include "ps/ps.grpc.pb.h"
#include "ps/wire.h"
#include "ps/wire_codec.h"
#include "worker/optimizer.h"

namespace ringmaster::ps {
namespace {

namespace v1 = ringmaster::ps::v1;
using grpc::ServerContext;
using grpc::StatusCode;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kMaxWorkers = 4096;
constexpr uint32_t kMaxBlocks = 1 << 20;

grpc::Status bad(std::string message) { return {StatusCode::INVALID_ARGUMENT, std::move(message)}; }
grpc::Status precondition(std::string message) { return {StatusCode::FAILED_PRECONDITION, std::move(message)}; }

struct BlockState {
  uint32_t key = 0;
  int64_t length = 0;
  std::mutex mu;
  std::vector<float> values;                 // GUARDED_BY(mu)
  std::unique_ptr<worker::Optimizer> opt;    // GUARDED_BY(mu)
  std::vector<float> accum;                  // sync mode; GUARDED_BY(mu)
};

worker::OptimizerConfig optimizer_config(const v1::OptimizerSpec& s) {
  worker::OptimizerConfig c;
  c.name = s.name();
  c.momentum = s.momentum();
  c.nesterov = s.nesterov();
  c.weight_decay = s.weight_decay();
  c.beta1 = s.beta1();
  c.beta2 = s.beta2();
  c.epsilon = s.epsilon();
  return c;
}

// The gradients of one push, checked against the layout: per block, its index and its values
// (in place in the received message where possible; PushView::floats).
struct PushArgs {
  uint32_t worker = 0;
  uint64_t clock = 0;
  float lr = 0.0f;
  std::vector<std::pair<std::size_t, std::span<const float>>> grads;
  std::size_t bytes = 0;
};

class PsService final : public v1::ParameterServer::Service {
 public:
  // Pull, Push and PushPull carry the model. They are served as gRPC's "streamed unary" methods
  // (what the generated WithStreamedUnaryMethod_* do, one request and one answer on the stream) with
  // gRPC byte buffers as the message type (ps/wire_codec.h): the request arrives as the received
  // slices and the answer leaves as one slice of ours, so no protobuf parse or serialization copies
  // the model (gRPC's SerializationTraits<ByteBuffer> pass slices through). On the wire nothing
  // changes: clients call them as the unary methods of ps.proto. Indices: ps.proto's method order.
  explicit PsService(const ServerOptions& o) : o_(o) {
    serve_raw(2, &PsService::pull_raw);       // Pull
    serve_raw(3, &PsService::push_raw);       // Push
    serve_raw(4, &PsService::push_pull_raw);  // PushPull
  }

  grpc::Status Register(ServerContext* ctx, const v1::RegisterRequest* req, v1::RegisterResponse* resp) override {
    if (auto s = check_token(ctx); !s.ok()) return s;
    if (req->workers() == 0 || req->workers() > kMaxWorkers)
      return reject(bad(fmt::format("workers: expected 1 to {}, found {}", kMaxWorkers, req->workers())));
    if (req->worker() >= req->workers())
      return reject(bad(fmt::format("worker: expected an index below workers={}, found {}", req->workers(), req->worker())));
    std::lock_guard lock(mu_);
    if (!configured_) {
      if (auto s = configure(*req); !s.ok()) return reject(s);
    } else if (auto s = same_job(*req); !s.ok()) {
      return reject(s);
    }
    registered_[req->worker()] = true;
    resp->set_initialized(initialized_);
    resp->set_clock(clocks_[req->worker()]);
    resp->set_version(version_);
    resp->set_server(static_cast<uint32_t>(o_.index));
    spdlog::debug("worker {} registered (clock {})", req->worker(), clocks_[req->worker()]);
    return grpc::Status::OK;
  }

  grpc::Status Init(ServerContext* ctx, const v1::InitRequest* req, v1::InitResponse* resp) override {
    if (auto s = check_worker(ctx, req->worker()); !s.ok()) return s;
    if (auto s = check_tensors(req->blocks(), "blocks"); !s.ok()) return reject(s);
    std::lock_guard lock(mu_);
    if (initialized_) {
      resp->set_applied(false);
      return grpc::Status::OK;
    }
    for (const v1::Tensor& t : req->blocks()) {
      BlockState& b = *blocks_[index_.at(t.key())];
      std::lock_guard block_lock(b.mu);
      std::memcpy(b.values.data(), t.values().data(), t.values().size());
    }
    initialized_ = true;
    stats_bytes_in_ += static_cast<uint64_t>(req->ByteSizeLong());
    resp->set_applied(true);
    cv_.notify_all();
    spdlog::info("parameters initialized by worker {}", req->worker());
    return grpc::Status::OK;
  }

  // The hot path (serve_raw's handlers): requests and answers as gRPC byte buffers.
  grpc::Status pull_raw(ServerContext* ctx, const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
    v1::PullRequest req;
    if (auto s = parse_small(request, &req); !s.ok()) return reject(s);
    if (auto s = check_worker(ctx, req.worker()); !s.ok()) return s;
    if (auto s = check_initialized(); !s.ok()) return s;
    return pull(ctx, req.worker(), req.clock(), response);
  }

  grpc::Status push_raw(ServerContext* ctx, const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
    PushView view;
    PushArgs args;
    if (auto s = read_push(ctx, request, view, args); !s.ok()) return s;
    if (auto s = push(ctx, args); !s.ok()) return s;
    v1::PushResponse resp;
    {
      std::lock_guard lock(mu_);
      resp.set_version(version_);
    }
    const std::string bytes = resp.SerializeAsString();
    grpc::Slice slice(bytes);
    *response = grpc::ByteBuffer(&slice, 1);
    return grpc::Status::OK;
  }

  grpc::Status push_pull_raw(ServerContext* ctx, const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
    PushView view;
    PushArgs args;
    if (auto s = read_push(ctx, request, view, args); !s.ok()) return s;
    if (auto s = push(ctx, args); !s.ok()) return s;
    return pull(ctx, args.worker, args.clock + 1, response);
  }

  grpc::Status Barrier(ServerContext* ctx, const v1::BarrierRequest* req, v1::BarrierResponse*) override {
    if (auto s = check_worker(ctx, req->worker()); !s.ok()) return s;
    std::unique_lock lock(mu_);
    auto& arrived = barriers_[req->generation()];
    arrived.insert(req->worker());
    cv_.notify_all();
    const uint64_t gen = req->generation();
    auto status = wait(lock, ctx, [&] { return barriers_[gen].size() >= workers(); },
                       [&] { return fmt::format("barrier {}: {} of {} workers arrived", gen, barriers_[gen].size(), workers()); });
    while (!barriers_.empty() && barriers_.begin()->first + 2 < gen) barriers_.erase(barriers_.begin());
    return status;
  }

  grpc::Status Save(ServerContext* ctx, const v1::SaveRequest* req, v1::SaveResponse* resp) override {
    if (auto s = check_worker(ctx, req->worker()); !s.ok()) return s;
    if (o_.checkpoint_dir.empty()) return precondition("this server has no --checkpoint-dir");
    if (Status s = save(); !s) return {StatusCode::INTERNAL, s.message()};
    resp->set_path(checkpoint_path(o_.checkpoint_dir, o_.index));
    std::lock_guard lock(mu_);
    resp->set_version(version_);
    return grpc::Status::OK;
  }

  grpc::Status Stats(ServerContext* ctx, const v1::StatsRequest*, v1::StatsResponse* resp) override {
    if (auto s = check_token(ctx); !s.ok()) return s;
    std::lock_guard lock(mu_);
    resp->set_server(static_cast<uint32_t>(o_.index));
    resp->set_mode(configured_ ? config_.mode() : "");
    resp->set_version(version_);
    resp->set_pushes(stats_pushes_);
    resp->set_pulls(stats_pulls_);
    resp->set_bytes_in(stats_bytes_in_);
    resp->set_bytes_out(stats_bytes_out_);
    resp->set_rejected(stats_rejected_);
    for (uint64_t c : clocks_) resp->add_clocks(c);
    int64_t floats = 0;
    for (const auto& b : blocks_) floats += b->length;
    resp->set_parameters(static_cast<uint64_t>(floats));
    resp->set_wait_seconds(stats_wait_seconds_);
    resp->set_checkpoints(stats_checkpoints_);
    return grpc::Status::OK;
  }

  // The checkpoint: the state under the locks, serialized, a CRC-32 after it, written atomically.
  Status save() {
    std::lock_guard save_lock(save_mu_);
    v1::Snapshot snap;
    {
      std::lock_guard lock(mu_);
      if (!configured_) return Status::ok();
      if (version_ == saved_version_ && initialized_ == saved_initialized_ && registered_ == saved_registered_)
        return Status::ok();
      *snap.mutable_config() = config_;
      for (bool r : registered_) snap.add_registered(r);
      for (uint64_t c : clocks_) snap.add_clocks(c);
      snap.set_version(version_);
      snap.set_sync_step(sync_step_);
      snap.set_initialized(initialized_);
      snap.set_server(static_cast<uint32_t>(o_.index));
      for (const auto& b : blocks_) {
        std::lock_guard block_lock(b->mu);
        auto* out = snap.add_blocks();
        out->set_key(b->key);
        out->set_values(to_bytes(b->values));
        out->set_optimizer_steps(b->opt->step_count());
        for (auto& [name, slot] : b->opt->state()) out->add_slots(to_bytes(slot));
      }
      saved_version_ = version_;
      saved_initialized_ = initialized_;
      saved_registered_ = registered_;
    }
    std::string bytes = snap.SerializeAsString();
    const uint32_t crc = crc32_of(bytes);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    const std::string path = checkpoint_path(o_.checkpoint_dir, o_.index);
    std::error_code ec;
    std::filesystem::create_directories(o_.checkpoint_dir, ec);
    if (Status s = write_file_atomic(path, bytes); !s) return s.with_context("writing the parameter-server checkpoint");
    ++stats_checkpoints_;
    spdlog::debug("checkpoint {} (version {})", path, snap.version());
    return Status::ok();
  }

  Status restore() {
    const std::string path = checkpoint_path(o_.checkpoint_dir, o_.index);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return Status::ok();
    auto bytes = read_file(path, 8ULL << 30);
    if (!bytes) return bytes.status();
    const auto corrupt = [&](const std::string& why) { return data_loss(fmt::format("{}: {}", path, why)); };
    if (bytes->size() < 4) return corrupt("expected a snapshot and its CRC-32, found " + std::to_string(bytes->size()) + " bytes");
    const std::size_t body = bytes->size() - 4;
    uint32_t stored = 0;
    for (int i = 0; i < 4; ++i) stored |= static_cast<uint32_t>(static_cast<unsigned char>((*bytes)[body + i])) << (8 * i);
    const uint32_t crc = crc32_of(std::string_view(*bytes).substr(0, body));
    if (crc != stored) return corrupt(fmt::format("CRC-32 mismatch (stored {:08x}, computed {:08x})", stored, crc));
    v1::Snapshot snap;
    if (!snap.ParseFromArray(bytes->data(), static_cast<int>(body))) return corrupt("not a parameter-server snapshot");
    std::lock_guard lock(mu_);
    if (auto s = configure(snap.config()); !s.ok()) return corrupt("its layout: " + s.error_message());
    const std::size_t w = config_.workers();
    if (static_cast<std::size_t>(snap.registered_size()) != w || static_cast<std::size_t>(snap.clocks_size()) != w ||
        static_cast<std::size_t>(snap.blocks_size()) != blocks_.size())
      return corrupt("worker or block counts do not match its layout");
    for (std::size_t i = 0; i < w; ++i) registered_[i] = snap.registered(static_cast<int>(i)), clocks_[i] = snap.clocks(static_cast<int>(i));
    for (const auto& in : snap.blocks()) {
      auto it = index_.find(in.key());
      if (it == index_.end()) return corrupt(fmt::format("block {} is not in its layout", in.key()));
      BlockState& b = *blocks_[it->second];
      if (in.values().size() != b.values.size() * sizeof(float)) return corrupt(fmt::format("block {} has the wrong size", in.key()));
      std::memcpy(b.values.data(), in.values().data(), in.values().size());
      auto slots = b.opt->state();
      if (static_cast<std::size_t>(in.slots_size()) != slots.size()) return corrupt("optimizer state does not match");
      for (std::size_t k = 0; k < slots.size(); ++k) {
        if (in.slots(static_cast<int>(k)).size() != slots[k].second.size_bytes()) return corrupt("optimizer state has the wrong size");
        std::memcpy(slots[k].second.data(), in.slots(static_cast<int>(k)).data(), slots[k].second.size_bytes());
      }
      b.opt->set_step_count(in.optimizer_steps());
    }
    version_ = saved_version_ = snap.version();
    sync_step_ = snap.sync_step();
    initialized_ = saved_initialized_ = snap.initialized();
    saved_registered_ = registered_;
    spdlog::info("restored {} (version {}, {} blocks, worker clocks {})", path, version_, blocks_.size(),
                 fmt::join(clocks_, ","));
    return Status::ok();
  }

  void stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

 private:
  grpc::Status reject(grpc::Status s) {
    ++stats_rejected_;
    return s;
  }
  uint32_t workers() const { return config_.workers(); }

  grpc::Status check_token(ServerContext* ctx) {
    const auto& md = ctx->client_metadata();
    auto it = md.find(kTokenMetadata);
    const std::string_view given = it == md.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
    if (given != o_.token)
      return reject({StatusCode::UNAUTHENTICATED,
                     given.empty() ? "no job token (x-ringmaster-token; the client has no RINGMASTER_JOB_TOKEN)"
                                   : "wrong job token"});
    return grpc::Status::OK;
  }

  grpc::Status check_worker(ServerContext* ctx, uint32_t worker) {
    if (auto s = check_token(ctx); !s.ok()) return s;
    std::lock_guard lock(mu_);
    if (!configured_ || worker >= registered_.size() || !registered_[worker])
      return reject({StatusCode::UNAUTHENTICATED, fmt::format("worker {} has not registered with this server", worker)});
    return grpc::Status::OK;
  }

  grpc::Status check_initialized() {
    std::lock_guard lock(mu_);
    if (!initialized_) return precondition("parameters not initialized yet (the first worker sends them with Init)");
    return grpc::Status::OK;
  }

  // Every block exactly once, with the configured length.
  grpc::Status check_tensors(const google::protobuf::RepeatedPtrField<v1::Tensor>& tensors, const char* what) {
    if (static_cast<std::size_t>(tensors.size()) != blocks_.size())
      return bad(fmt::format("{}: expected all {} blocks of this server, found {}", what, blocks_.size(), tensors.size()));
    std::vector<bool> seen(blocks_.size());
    for (const v1::Tensor& t : tensors) {
      auto it = index_.find(t.key());
      if (it == index_.end()) return bad(fmt::format("{}: unknown block key {}", what, t.key()));
      if (seen[it->second]) return bad(fmt::format("{}: block {} appears twice", what, t.key()));
      seen[it->second] = true;
      const std::size_t expected = static_cast<std::size_t>(blocks_[it->second]->length) * sizeof(float);
      if (t.values().size() != expected)
        return bad(fmt::format("{}: block {} has {} bytes, expected {} ({} float32 values)", what, t.key(),
                               t.values().size(), expected, blocks_[it->second]->length));
    }
    return grpc::Status::OK;
  }

  using RawHandler = grpc::Status (PsService::*)(ServerContext*, const grpc::ByteBuffer&, grpc::ByteBuffer*);
  using RawStream = grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>;
  void serve_raw(int method, RawHandler handler) {
    MarkMethodStreamed(method, new grpc::internal::StreamedUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                                   [this, handler](ServerContext* ctx, RawStream* stream) {
                                     grpc::ByteBuffer request, response;
                                     if (!stream->Read(&request)) return grpc::Status(StatusCode::INTERNAL, "no request");
                                     grpc::Status s = (this->*handler)(ctx, request, &response);
                                     if (s.ok()) stream->Write(response);
                                     return s;
                                   }));
  }

  // A small request (PullRequest) from its byte buffer.
  template <class Message>
  static grpc::Status parse_small(const grpc::ByteBuffer& buffer, Message* message) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (buffer.Dump(&slices).ok())
      for (const auto& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    if (!message->ParseFromString(bytes)) return bad("malformed request");
    return grpc::Status::OK;
  }

  // Decodes and checks a push (token, worker, every block exactly once with its length, lr) into
  // *view and fills args with views of its gradients: in *view's slices, or, for a block split
  // across slices, in this thread's scratch. args is valid while *view lives and until this
  // thread's next push.
  grpc::Status read_push(ServerContext* ctx, const grpc::ByteBuffer& request, PushView& out, PushArgs& args) {
    auto view = PushView::decode(request);
    if (!view) return reject(bad(view.status().message()));
    if (auto s = check_worker(ctx, view->worker); !s.ok()) return s;
    if (auto s = check_initialized(); !s.ok()) return s;
    const auto& grads = view->grads;
    if (grads.size() != blocks_.size())
      return reject(bad(fmt::format("grads: expected all {} blocks of this server, found {}", blocks_.size(), grads.size())));
    if (!std::isfinite(view->lr) || view->lr < 0)
      return reject(bad(fmt::format("lr: expected >= 0, found {}", view->lr)));
    thread_local std::vector<std::vector<float>> scratch;  // reused: a split block is gathered in place
    if (scratch.size() < grads.size()) scratch.resize(grads.size());
    std::vector<bool> seen(blocks_.size());
    args.grads.clear();
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const PushView::Grad& g = grads[i];
      auto it = index_.find(g.key);
      if (it == index_.end()) return reject(bad(fmt::format("grads: unknown block key {}", g.key)));
      if (seen[it->second]) return reject(bad(fmt::format("grads: block {} appears twice", g.key)));
      seen[it->second] = true;
      const std::size_t expected = static_cast<std::size_t>(blocks_[it->second]->length) * sizeof(float);
      if (g.bytes != expected)
        return reject(bad(fmt::format("grads: block {} has {} bytes, expected {} ({} float32 values)", g.key, g.bytes,
                                      expected, blocks_[it->second]->length)));
      args.grads.emplace_back(it->second, PushView::floats(g, scratch[i]));
    }
    args.worker = view->worker;
    args.clock = view->clock;
    args.lr = view->lr;
    args.bytes = view->bytes;
    // Moving the view moves its slice vector's buffer, not the slices: the spans stay valid.
    out = std::move(*view);
    return grpc::Status::OK;
  }

  // REQUIRES: mu_ held.
  grpc::Status configure(const v1::RegisterRequest& req) {
    auto mode = parse_mode(req.mode(), "mode");
    if (!mode) return bad(mode.status().message());
    if (req.blocks_size() == 0 || static_cast<uint32_t>(req.blocks_size()) > kMaxBlocks)
      return bad(fmt::format("blocks: expected 1 to {}, found {}", kMaxBlocks, req.blocks_size()));
    const uint64_t max_floats = static_cast<uint64_t>(o_.max_message_bytes) / sizeof(float);
    uint64_t total = 0;
    std::set<uint32_t> keys;
    for (const auto& b : req.blocks()) {
      if (b.length() == 0 || b.length() > max_floats)
        return bad(fmt::format("blocks: block {} has length {}, expected 1 to {}", b.key(), b.length(), max_floats));
      if (!keys.insert(b.key()).second) return bad(fmt::format("blocks: key {} appears twice", b.key()));
      total += b.length();
    }
    if (total * sizeof(float) + 1024 * static_cast<uint64_t>(req.blocks_size()) > static_cast<uint64_t>(o_.max_message_bytes))
      return precondition(fmt::format("this server's blocks take {} MiB, more than its --max-message-mib {}; start it "
                                      "with a larger --max-message-mib or add servers",
                                      total * sizeof(float) >> 20, o_.max_message_bytes >> 20));
    const worker::OptimizerConfig oc = optimizer_config(req.optimizer());
    std::vector<std::unique_ptr<BlockState>> blocks;
    for (const auto& spec : req.blocks()) {
      auto b = std::make_unique<BlockState>();
      b->key = spec.key();
      b->length = static_cast<int64_t>(spec.length());
      b->values.assign(spec.length(), 0.0f);
      auto opt = worker::make_optimizer(oc, b->length);
      if (!opt) return bad("optimizer: " + opt.status().message());
      b->opt = std::move(*opt);
      if (*mode == Mode::kSync) b->accum.assign(spec.length(), 0.0f);
      blocks.push_back(std::move(b));
    }
    blocks_ = std::move(blocks);
    index_.clear();
    for (std::size_t i = 0; i < blocks_.size(); ++i) index_[blocks_[i]->key] = i;
    config_ = req;
    config_.set_worker(0);
    mode_ = *mode;
    registered_.assign(req.workers(), false);
    clocks_.assign(req.workers(), 0);
    arrived_from_.assign(req.workers(), false);
    configured_ = true;
    spdlog::info("configured: {} workers, {} mode{}, {} blocks ({:.2f} MiB), optimizer {}", req.workers(), req.mode(),
                 mode_ == Mode::kSsp ? fmt::format(" (staleness {})", req.staleness()) : "", blocks_.size(),
                 static_cast<double>(total * sizeof(float)) / (1 << 20), oc.name);
    return grpc::Status::OK;
  }

  // REQUIRES: mu_ held, configured_.
  grpc::Status same_job(const v1::RegisterRequest& req) {
    auto differs = [&](const char* what, const std::string& mine, const std::string& theirs) {
      return precondition(fmt::format("{}: this server serves a job with {}, the request has {}", what, mine, theirs));
    };
    if (req.workers() != config_.workers())
      return differs("workers", std::to_string(config_.workers()), std::to_string(req.workers()));
    if (req.mode() != config_.mode()) return differs("mode", config_.mode(), req.mode());
    if (req.staleness() != config_.staleness())
      return differs("staleness", std::to_string(config_.staleness()), std::to_string(req.staleness()));
    if (req.optimizer().name() != config_.optimizer().name())
      return differs("optimizer", config_.optimizer().name(), req.optimizer().name());
    if (req.blocks_size() != config_.blocks_size())
      return differs("blocks", std::to_string(config_.blocks_size()), std::to_string(req.blocks_size()));
    for (int i = 0; i < req.blocks_size(); ++i)
      if (req.blocks(i).key() != config_.blocks(i).key() || req.blocks(i).length() != config_.blocks(i).length())
        return differs("blocks", fmt::format("block {} of length {}", config_.blocks(i).key(), config_.blocks(i).length()),
                       fmt::format("block {} of length {}", req.blocks(i).key(), req.blocks(i).length()));
    return grpc::Status::OK;
  }

  // Waits on cv_ until pred, the call's deadline, its cancellation or shutdown.
  template <typename Pred, typename Describe>
  grpc::Status wait(std::unique_lock<std::mutex>& lock, ServerContext* ctx, Pred pred, Describe describe) {
    if (pred()) return grpc::Status::OK;
    const auto started = Clock::now();
    // Answer a little before the caller's deadline, so that it reads why it waited rather than
    // its own bare DEADLINE_EXCEEDED.
    const auto deadline = ctx->deadline() - std::chrono::milliseconds(100);
    while (!pred()) {
      if (stopping_) return {StatusCode::UNAVAILABLE, "the server is shutting down"};
      if (ctx->IsCancelled()) return {StatusCode::CANCELLED, "the call was cancelled while " + describe()};
      if (std::chrono::system_clock::now() >= deadline)
        return {StatusCode::DEADLINE_EXCEEDED, "deadline exceeded while " + describe()};
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    stats_wait_seconds_ += std::chrono::duration<double>(Clock::now() - started).count();
    return grpc::Status::OK;
  }

  // REQUIRES: req checked by read_push.
  grpc::Status push(ServerContext* ctx, const PushArgs& req) {
    const uint32_t w = req.worker;
    std::unique_lock lock(mu_);
    stats_bytes_in_ += static_cast<uint64_t>(req.bytes);
    if (mode_ != Mode::kSync) {
      if (req.clock < clocks_[w]) return grpc::Status::OK;  // a retry of a push already applied
      // Each push is one worker's share of a step: workers() pushes move the parameters about as
      // far as one synchronous step of their mean gradient.
      const float lr = req.lr / static_cast<float>(workers());
      lock.unlock();
      for (const auto& [block, grads] : req.grads) {
        BlockState& b = *blocks_[block];
        std::lock_guard block_lock(b.mu);
        b.opt->step(b.values, grads, lr);
      }
      lock.lock();
      clocks_[w] = std::max(clocks_[w], req.clock + 1);
      ++version_;
      ++stats_pushes_;
      cv_.notify_all();
      return grpc::Status::OK;
    }
    // sync: the step's gradients are summed; the last worker's push applies their mean.
    if (req.clock < sync_step_ || (req.clock == sync_step_ && arrived_from_[w])) return grpc::Status::OK;
    // A worker pushes step c only after step c-1 was applied, so a push from beyond the current
    // step with nothing gathered for it means this server restarted from an older snapshot: the
    // steps in between are lost, and the step counter catches up with the workers.
    if (req.clock > sync_step_ && arrived_ == 0) {
      spdlog::warn("sync step {} -> {}: worker {} is ahead of this server's snapshot", sync_step_, req.clock, w);
      sync_step_ = req.clock;
    }
    if (auto s = wait(lock, ctx, [&] { return sync_step_ == req.clock; },
                      [&] { return fmt::format("waiting for step {} to be applied before worker {}'s step {}", sync_step_, w, req.clock); });
        !s.ok())
      return s;
    for (const auto& [block, in] : req.grads) {
      BlockState& b = *blocks_[block];
      std::lock_guard block_lock(b.mu);
      for (std::size_t i = 0; i < in.size(); ++i) b.accum[i] += in[i];
    }
    arrived_from_[w] = true;
    clocks_[w] = req.clock + 1;
    ++stats_pushes_;
    if (++arrived_ == workers()) {
      const float mean = 1.0f / static_cast<float>(workers());
      for (auto& bp : blocks_) {
        BlockState& b = *bp;
        std::lock_guard block_lock(b.mu);
        for (float& v : b.accum) v *= mean;
        b.opt->step(b.values, b.accum, req.lr);
        std::fill(b.accum.begin(), b.accum.end(), 0.0f);
      }
      ++version_;
      ++sync_step_;
      arrived_ = 0;
      std::fill(arrived_from_.begin(), arrived_from_.end(), false);
      cv_.notify_all();
    }
    return grpc::Status::OK;
  }

  // Waits as the mode requires, then answers with every block, copied once under its lock.
  grpc::Status pull(ServerContext* ctx, uint32_t worker, uint64_t clock, grpc::ByteBuffer* response) {
    uint64_t version = 0;
    {
      std::unique_lock lock(mu_);
      if (mode_ == Mode::kSync) {
        auto s = wait(lock, ctx, [&] { return sync_step_ >= clock; }, [&] {
          std::vector<uint32_t> missing;
          for (uint32_t i = 0; i < workers(); ++i)
            if (!arrived_from_[i]) missing.push_back(i);
          return fmt::format("worker {} waits for step {}: worker(s) {} have not pushed it", worker, sync_step_,
                             fmt::join(missing, ","));
        });
        if (!s.ok()) return s;
      } else if (mode_ == Mode::kSsp) {
        const uint64_t k = config_.staleness();
        auto slowest = [&] { return *std::min_element(clocks_.begin(), clocks_.end()); };
        auto s = wait(lock, ctx, [&] { return slowest() + k >= clock; }, [&] {
          return fmt::format("worker {} at clock {} waits for the slowest worker (clock {}, staleness {})", worker,
                             clock, slowest(), k);
        });
        if (!s.ok()) return s;
      }
      version = version_;
    }
    std::size_t floats = 0;
    for (const auto& b : blocks_) floats += static_cast<std::size_t>(b->length);
    PullWriter writer(blocks_.size(), floats);
    for (auto& bp : blocks_) {
      BlockState& b = *bp;
      std::lock_guard block_lock(b.mu);
      writer.add(b.key, b.values);
    }
    *response = writer.finish(version);
    std::lock_guard lock(mu_);
    ++stats_pulls_;
    stats_bytes_out_ += static_cast<uint64_t>(writer.bytes());
    return grpc::Status::OK;
  }

  const ServerOptions o_;
  std::mutex save_mu_;  // one checkpoint at a time
  std::mutex mu_;       // everything below; taken before any block's mutex
  std::condition_variable cv_;
  bool configured_ = false, initialized_ = false, stopping_ = false;
  v1::RegisterRequest config_;
  Mode mode_ = Mode::kAsync;  // config_.mode(), parsed
  // Fixed once configured_ (configure runs once), so handlers read them after checking it.
  std::vector<std::unique_ptr<BlockState>> blocks_;
  std::unordered_map<uint32_t, std::size_t> index_;
  std::vector<bool> registered_, arrived_from_;
  std::vector<uint64_t> clocks_;
  uint64_t version_ = 0, sync_step_ = 0;
  uint32_t arrived_ = 0;
  std::map<uint64_t, std::set<uint32_t>> barriers_;
  uint64_t saved_version_ = 0;
  bool saved_initialized_ = false;
  std::vector<bool> saved_registered_;
  uint64_t stats_pushes_ = 0, stats_pulls_ = 0, stats_bytes_in_ = 0, stats_bytes_out_ = 0;
  std::atomic<uint64_t> stats_rejected_{0}, stats_checkpoints_{0};
  double stats_wait_seconds_ = 0;
};

class ServerImpl final : public PsServer {
 public:
  explicit ServerImpl(const ServerOptions& o) : o_(o), service_(o) {}
  ~ServerImpl() override { shutdown(); }

  Status start() {
    if (!o_.checkpoint_dir.empty())
      if (Status s = service_.restore(); !s) return s;
    grpc::ServerBuilder builder;
    const std::string address = fmt::format("{}:{}", o_.address, o_.port);
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(o_.max_message_bytes, INT32_MAX)));
    builder.SetMaxSendMessageSize(static_cast<int>(std::min<int64_t>(o_.max_message_bytes, INT32_MAX)));
    builder.RegisterService(&service_);
    if (o_.threads > 0) builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, o_.threads);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) return Status(ringmaster::StatusCode::kUnavailable, fmt::format("cannot listen on {}", address));
    if (!o_.checkpoint_dir.empty() && o_.checkpoint_seconds > 0)
      saver_ = std::jthread([this](std::stop_token stop) {
        std::mutex m;
        std::condition_variable_any cv;
        while (!stop.stop_requested()) {
          std::unique_lock lock(m);
          cv.wait_for(lock, stop, std::chrono::duration<double>(o_.checkpoint_seconds), [] { return false; });
          if (stop.stop_requested()) break;
          if (Status s = service_.save(); !s) spdlog::error("{}", s.message());
        }
      });
    return Status::ok();
  }

  int port() const override { return port_; }
  Status save() override { return o_.checkpoint_dir.empty() ? Status::ok() : service_.save(); }

  void shutdown() override {
    std::lock_guard lock(shutdown_mu_);
    if (down_) return;
    down_ = true;
    service_.stop();
    if (saver_.joinable()) {
      saver_.request_stop();
      saver_.join();
    }
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    if (Status s = save(); !s) spdlog::error("{}", s.message());
    std::lock_guard wait_lock(wait_mu_);
    stopped_ = true;
    wait_cv_.notify_all();
  }

  void wait() override {
    std::unique_lock lock(wait_mu_);
    wait_cv_.wait(lock, [&] { return stopped_; });
  }

 private:
  const ServerOptions o_;
  PsService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::jthread saver_;
  std::mutex shutdown_mu_, wait_mu_;
  std::condition_variable wait_cv_;
  bool down_ = false, stopped_ = false;
};

}  // namespace

std::string checkpoint_path(const std::string& dir, int index) {
  return (std::filesystem::path(dir) / fmt::format("ps-{}.snapshot", index)).string();
}

Result<std::unique_ptr<PsServer>> PsServer::start(const ServerOptions& options) {
  auto server = std::make_unique<ServerImpl>(options);
  if (Status s = server->start(); !s) return s;
  return std::unique_ptr<PsServer>(std::move(server));
}

}  // namespace ringmaster::ps
