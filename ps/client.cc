#include "ps/client.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "ps/ps.grpc.pb.h"
#include "common/tf_config.h"
#include "ps/wire.h"
#include "ps/wire_codec.h"
#include <grpcpp/generic/generic_stub.h>

namespace ringmaster::ps {
namespace {

namespace v1 = ringmaster::ps::v1;
using Clock = std::chrono::steady_clock;

Status from_grpc(const grpc::Status& s, const std::string& what) {
  StatusCode code = StatusCode::kUnavailable;
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: code = StatusCode::kInvalidArgument; break;
    case grpc::StatusCode::DEADLINE_EXCEEDED: code = StatusCode::kDeadlineExceeded; break;
    case grpc::StatusCode::FAILED_PRECONDITION: code = StatusCode::kFailedPrecondition; break;
    case grpc::StatusCode::UNAUTHENTICATED: code = StatusCode::kPermissionDenied; break;
    default: break;
  }
  return Status(code, fmt::format("{}: {} ({})", what, s.error_message(), static_cast<int>(s.error_code())));
}

// Worth waiting out: the server is down, stopping or restarting, or came back without our registration or
// its parameters.
bool recoverable(const grpc::Status& s) {
  // This client never cancels its own calls: CANCELLED means the server shut down under them.
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::CANCELLED ||
         (s.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
          s.error_message().find("has not registered") != std::string::npos) ||
         (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
          s.error_message().find("not initialized") != std::string::npos);
}

struct Server {
  int index = 0;
  std::string address;
  std::vector<Block> blocks;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ParameterServer::Stub> stub;
  std::unique_ptr<grpc::GenericStub> generic;  // the hot path, without protobuf's copies
  std::unique_ptr<PushEncoder> encoder;
  grpc::ByteBuffer request, response;
  v1::PushRequest push;  // the retry path: built only when a push must be sent again
  v1::PullResponse pulled;
  grpc::Status last;
};

class Client final : public worker::ParameterService {
 public:
  explicit Client(ClientOptions o) : o_(std::move(o)) {}
  int worker() const override { return o_.worker; }
  int workers() const override { return o_.workers; }
  std::string describe() const override {
    return fmt::format("{} parameter server{} ({}), {} mode{}", o_.servers.size(), o_.servers.size() == 1 ? "" : "s",
                       fmt::join(o_.servers, ", "), name_of(o_.mode),
                       o_.mode == Mode::kSsp ? fmt::format(" with staleness {}", o_.staleness) : "");
  }

  Result<int64_t> start(std::span<float> params, std::span<const worker::ParamInfo> tensors,
                        const worker::OptimizerConfig& optimizer) override {
    std::vector<TensorExtent> extents;
    for (const auto& t : tensors) extents.push_back({t.offset, worker::shape_size(t.shape)});
    const std::vector<Block> layout = make_layout(extents, static_cast<int>(o_.servers.size()), o_.max_block_floats);
    optimizer_.set_name(optimizer.name);
    optimizer_.set_momentum(optimizer.momentum);
    optimizer_.set_nesterov(optimizer.nesterov);
    optimizer_.set_weight_decay(optimizer.weight_decay);
    optimizer_.set_beta1(optimizer.beta1);
    optimizer_.set_beta2(optimizer.beta2);
    optimizer_.set_epsilon(optimizer.epsilon);
    servers_.clear();
    for (std::size_t i = 0; i < o_.servers.size(); ++i) {
      auto s = std::make_unique<Server>();
      s->index = static_cast<int>(i);
      s->address = o_.servers[i];
      s->blocks = blocks_of(layout, s->index);
      int64_t floats = 0;
      for (const Block& b : s->blocks) floats += b.length;
      grpc::ChannelArguments args;
      const auto limit = static_cast<int>(std::min<int64_t>(INT32_MAX, floats * 4 + (floats * 4) / 8 + (4 << 20)));
      args.SetMaxReceiveMessageSize(limit);
      args.SetMaxSendMessageSize(limit);
      s->channel = grpc::CreateCustomChannel(s->address, grpc::InsecureChannelCredentials(), args);
      s->stub = v1::ParameterServer::NewStub(s->channel);
      s->generic = std::make_unique<grpc::GenericStub>(s->channel);
      s->encoder = std::make_unique<PushEncoder>(s->blocks);
      servers_.push_back(std::move(s));
    }
    // Register everywhere (waiting for servers still starting), seed the empty ones, pull.
    int64_t clock = -1;
    for (auto& s : servers_) {
      auto c = connect(*s, params);
      if (!c) return c.status();
      clock = clock < 0 ? *c : std::min(clock, *c);
      if (Status st = call_until_ok(*s, params, [&](grpc::ClientContext& ctx) {
            v1::PullRequest req;
            req.set_worker(static_cast<uint32_t>(o_.worker));
            return s->stub->Pull(&ctx, req, &s->pulled);
          });
          !st)
        return st;
      if (Status st = unpack(*s, params); !st) return st;
    }
    return std::max<int64_t>(clock, 0);
  }

  Status push_pull(std::span<const float> grads, float lr, int64_t step, std::span<float> params) override {
    // All servers at once, each request pointing at the gradients (no copy before the socket);
    // then, one by one, those that need waiting out, through the protobuf stub.
    std::mutex mu;
    std::condition_variable cv;
    std::size_t pending = servers_.size();
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    for (auto& s : servers_) {
      contexts.push_back(context());
      s->request = s->encoder->encode(static_cast<uint32_t>(o_.worker), static_cast<uint64_t>(step), lr, grads);
      s->response.Clear();
      s->generic->UnaryCall(contexts.back().get(), "/ringmaster.ps.v1.ParameterServer/PushPull", grpc::StubOptions(),
                            &s->request, &s->response, [&, srv = s.get()](grpc::Status st) {
                              std::lock_guard lock(mu);
                              srv->last = std::move(st);
                              if (--pending == 0) cv.notify_all();
                            });
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return pending == 0; });
    }
    for (auto& s : servers_) {
      if (s->last.ok()) {
        if (Status st = decode_pull(s->response, s->blocks, params); !st) return st.with_context(what(*s, "push-pull"));
        continue;
      }
      if (!recoverable(s->last)) return from_grpc(s->last, what(*s, "push-pull"));
      s->push.Clear();
      s->push.set_worker(static_cast<uint32_t>(o_.worker));
      s->push.set_clock(static_cast<uint64_t>(step));
      s->push.set_lr(lr);
      for (const Block& b : s->blocks) {
        v1::Tensor* t = s->push.add_grads();
        t->set_key(b.key);
        t->set_values(to_bytes(grads.subspan(static_cast<std::size_t>(b.offset), static_cast<std::size_t>(b.length))));
      }
      if (Status st = call_until_ok(*s, params, [&](grpc::ClientContext& ctx) {
            return s->stub->PushPull(&ctx, s->push, &s->pulled);
          });
          !st)
        return st;
      if (Status st = unpack(*s, params); !st) return st;
    }
    return Status::ok();
  }

 private:
  std::unique_ptr<grpc::ClientContext> context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_seconds * 1000)));
    ctx->AddMetadata(kTokenMetadata, o_.token);
    return ctx;
  }
  static std::string name(const Server& s) { return fmt::format("parameter server {} ({})", s.index, s.address); }
  static std::string what(const Server& s, const char* call) { return fmt::format("{}: {}", name(s), call); }

  // Register (and Init when the server has no parameters); the worker's clock on that server.
  Result<int64_t> connect(Server& s, std::span<const float> params) {
    v1::RegisterRequest req;
    req.set_worker(static_cast<uint32_t>(o_.worker));
    req.set_workers(static_cast<uint32_t>(o_.workers));
    for (const Block& b : s.blocks) {
      auto* spec = req.add_blocks();
      spec->set_key(b.key);
      spec->set_length(static_cast<uint64_t>(b.length));
    }
    *req.mutable_optimizer() = optimizer_;
    req.set_mode(std::string(name_of(o_.mode)));
    req.set_staleness(static_cast<uint32_t>(o_.staleness));
    const auto give_up = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o_.reconnect_seconds * 1000));
    auto pause = std::chrono::milliseconds(50);
    v1::RegisterResponse resp;
    while (true) {
      auto ctx = context();
      ctx->set_wait_for_ready(true);  // a server still starting is waited for, up to the deadline
      grpc::Status st = s.stub->Register(ctx.get(), req, &resp);
      if (st.ok()) break;
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE && st.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)
        return from_grpc(st, what(s, "register"));
      if (Clock::now() >= give_up)
        return from_grpc(st, what(s, fmt::format("register (unreachable for {:.0f} s)", o_.reconnect_seconds).c_str()));
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    }
    if (!resp.initialized()) {
      v1::InitRequest init;
      init.set_worker(static_cast<uint32_t>(o_.worker));
      for (const Block& b : s.blocks) {
        auto* t = init.add_blocks();
        t->set_key(b.key);
        t->set_values(to_bytes(params.subspan(static_cast<std::size_t>(b.offset), static_cast<std::size_t>(b.length))));
      }
      v1::InitResponse ir;
      auto ctx = context();
      if (grpc::Status st = s.stub->Init(ctx.get(), init, &ir); !st.ok()) return from_grpc(st, what(s, "init"));
      if (ir.applied()) spdlog::info("worker {} seeded {}'s parameters", o_.worker, name(s));
    }
    return static_cast<int64_t>(resp.clock());
  }

  // Calls `call` until it succeeds, reconnecting while the failure is recoverable, for up to
  // reconnect_seconds.
  template <typename Call>
  Status call_until_ok(Server& s, std::span<const float> params, Call call) {
    const auto give_up = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o_.reconnect_seconds * 1000));
    auto pause = std::chrono::milliseconds(50);
    bool said = false;
    while (true) {
      auto ctx = context();
      grpc::Status st = call(*ctx);
      if (st.ok()) {
        if (said) spdlog::info("worker {}: {} is back", o_.worker, name(s));
        return Status::ok();
      }
      if (!recoverable(st)) return from_grpc(st, what(s, "call"));
      if (Clock::now() >= give_up)
        return from_grpc(st, what(s, fmt::format("unreachable for {:.0f} s", o_.reconnect_seconds).c_str()));
      if (!said) spdlog::warn("worker {}: {}; waiting for it", o_.worker, from_grpc(st, what(s, "call")).message());
      said = true;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
      if (auto c = connect(s, params); !c && c.status().code() != StatusCode::kUnavailable) return c.status();
    }
  }

  Status unpack(Server& s, std::span<float> params) {
    const auto& blocks = s.pulled.blocks();
    if (static_cast<std::size_t>(blocks.size()) != s.blocks.size())
      return internal_error(fmt::format("{}: {} blocks in the answer, expected {}", what(s, "pull"), blocks.size(),
                                        s.blocks.size()));
    for (std::size_t i = 0; i < s.blocks.size(); ++i) {
      const Block& b = s.blocks[i];
      const v1::Tensor& t = blocks[static_cast<int>(i)];
      if (t.key() != b.key || t.values().size() != static_cast<std::size_t>(b.length) * sizeof(float))
        return internal_error(fmt::format("{}: block {} in the answer does not match the layout", what(s, "pull"), t.key()));
      std::memcpy(params.data() + b.offset, t.values().data(), t.values().size());
    }
    return Status::ok();
  }

  ClientOptions o_;
  v1::OptimizerSpec optimizer_;
  std::vector<std::unique_ptr<Server>> servers_;
};

}  // namespace

Status validate(const ClientOptions& o) {
  if (o.servers.empty()) return invalid_argument("--ps-hosts: expected at least one host:port, found none");
  for (const auto& s : o.servers)
    if (s.find(':') == std::string::npos) return invalid_argument(fmt::format("--ps-hosts: expected host:port, found \"{}\"", s));
  if (o.staleness < 0) return invalid_argument(fmt::format("--staleness: expected >= 0, found {}", o.staleness));
  if (o.workers < 1 || o.worker < 0 || o.worker >= o.workers)
    return invalid_argument(fmt::format("--worker-index: expected 0 to {}, found {}", o.workers - 1, o.worker));
  if (!(o.timeout_seconds > 0)) return invalid_argument("--ps-timeout: expected seconds > 0");
  return Status::ok();
}

Result<ClientOptions> client_options_from_tf_config(const std::string& text) {
  const auto bad = [](const std::string& what) { return invalid_argument("environment variable TF_CONFIG: " + what); };
  auto tf = parse_tf_config(text);
  if (!tf) return tf.status();
  ClientOptions o;
  auto ps = tf->cluster.find("ps");
  if (ps == tf->cluster.end() || ps->second.empty())
    return bad("cluster.ps: expected the parameter servers' host:port list for --strategy ps, found none");
  o.servers = ps->second;
  if (!tf->is_training_task())
    return bad(fmt::format("task.type: expected chief, master or worker for --strategy ps, found \"{}\" (a PS "
                           "replica runs `ringmaster ps`)",
                           tf->type));
  o.worker = tf->training_rank();
  o.workers = static_cast<int>(tf->training_members().size());
  if (o.worker < 0 || o.worker >= o.workers) return bad(fmt::format("task {} {} is not in the cluster", tf->type, tf->index));
  return o;
}

std::unique_ptr<worker::ParameterService> make_client(const ClientOptions& options) {
  return std::make_unique<Client>(options);
}

}  // namespace ringmaster::ps
