// The parameter server against real gRPC servers on 127.0.0.1 (no mocks): the layout, each
// mode's semantics (sync equals allreduce on the same data order; ssp's bound; async trains), a
// malformed-request suite, authentication, snapshots and a server restarted under training.
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <thread>

#include "ps/client.h"
#include "ps/layout.h"
#include "ps/ps.grpc.pb.h"
#include "ps/server.h"
#include "ps/wire.h"
#include "ps/wire_codec.h"
#include "tests/collectives/harness.h"
#include "tests/worker/scratch_fixture.h"
#include "worker/checkpoint.h"
#include "worker/model.h"
#include "worker/trainer.h"

using namespace ringmaster;
namespace v1 = ringmaster::ps::v1;
namespace fs = std::filesystem;

namespace {

constexpr char kToken[] = "job-token";

std::unique_ptr<ps::PsServer> start_server(const std::string& checkpoint_dir = "", int port = 0, int index = 0) {
  ps::ServerOptions o;
  o.port = port;
  o.index = index;
  o.token = kToken;
  o.checkpoint_dir = checkpoint_dir;
  o.checkpoint_seconds = 0.2;
  o.max_message_bytes = 16 << 20;
  auto s = ps::PsServer::start(o);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  return s.is_ok() ? std::move(*s) : nullptr;
}

// A raw stub, to send what a well-behaved client never would.
struct Raw {
  explicit Raw(int port)
      : channel(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials())),
        stub(v1::ParameterServer::NewStub(channel)) {}
  std::unique_ptr<grpc::ClientContext> ctx(const std::string& token = kToken) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    c->AddMetadata(ps::kTokenMetadata, token);
    return c;
  }
  v1::RegisterRequest reg(uint32_t worker, uint32_t workers, const std::string& mode = "async", uint32_t staleness = 0) {
    v1::RegisterRequest r;
    r.set_worker(worker);
    r.set_workers(workers);
    for (uint32_t k = 0; k < 2; ++k) {
      auto* b = r.add_blocks();
      b->set_key(k);
      b->set_length(4);
    }
    r.mutable_optimizer()->set_name("sgd");
    r.set_mode(mode);
    r.set_staleness(staleness);
    return r;
  }
  grpc::Status do_register(uint32_t worker, uint32_t workers, const std::string& mode = "async", uint32_t staleness = 0) {
    v1::RegisterResponse resp;
    return stub->Register(ctx().get(), reg(worker, workers, mode, staleness), &resp);
  }
  static void fill(google::protobuf::RepeatedPtrField<v1::Tensor>* out, float value, std::size_t floats = 4) {
    for (uint32_t k = 0; k < 2; ++k) {
      auto* t = out->Add();
      t->set_key(k);
      std::vector<float> v(floats, value);
      t->set_values(ps::to_bytes(v));
    }
  }
  grpc::Status init(uint32_t worker, float value) {
    v1::InitRequest r;
    r.set_worker(worker);
    fill(r.mutable_blocks(), value);
    v1::InitResponse resp;
    return stub->Init(ctx().get(), r, &resp);
  }
  v1::PushRequest push(uint32_t worker, uint64_t clock, float grad, float lr = 1.0f) {
    v1::PushRequest r;
    r.set_worker(worker);
    r.set_clock(clock);
    r.set_lr(lr);
    fill(r.mutable_grads(), grad);
    return r;
  }
  grpc::Status send(const v1::PushRequest& r, const std::string& token = kToken) {
    v1::PushResponse resp;
    return stub->Push(ctx(token).get(), r, &resp);
  }
  // The first value of block 0 after a pull at `clock`, or the failure.
  std::pair<grpc::Status, float> pull(uint32_t worker, uint64_t clock, std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
    v1::PullRequest r;
    r.set_worker(worker);
    r.set_clock(clock);
    v1::PullResponse resp;
    auto c = ctx();
    c->set_deadline(std::chrono::system_clock::now() + deadline);
    grpc::Status s = stub->Pull(c.get(), r, &resp);
    if (!s.ok()) return {s, 0.0f};
    return {s, ps::as_floats(resp.blocks(0).values())[0]};
  }
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ParameterServer::Stub> stub;
};

}  // namespace

TEST(PsLayout, BlocksCoverEveryParameterOnceAndBalanceBytes) {
  // A 784x512 matrix, its bias, a 512x10 matrix and its bias, over 2 and 3 servers.
  const std::vector<ps::TensorExtent> tensors = {{0, 784 * 512}, {784 * 512, 512}, {784 * 512 + 512, 5120}, {784 * 512 + 512 + 5120, 10}};
  const int64_t total = 784 * 512 + 512 + 5120 + 10;
  for (int servers : {1, 2, 3}) {
    const auto layout = ps::make_layout(tensors, servers, 1 << 16);
    std::vector<int> covered(static_cast<std::size_t>(total), 0);
    std::vector<int64_t> load(static_cast<std::size_t>(servers), 0);
    for (std::size_t i = 0; i < layout.size(); ++i) {
      const auto& b = layout[i];
      EXPECT_EQ(b.key, i);
      EXPECT_LE(b.length, 1 << 16);
      for (int64_t j = b.offset; j < b.offset + b.length; ++j) ++covered[static_cast<std::size_t>(j)];
      load[static_cast<std::size_t>(b.server)] += b.length;
    }
    for (int c : covered) ASSERT_EQ(c, 1);
    const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
    EXPECT_LE(*hi - *lo, 1 << 16) << servers << " servers";  // within one block of each other
  }
}

TEST(PsWire, TheFastPathSpeaksProtobufsWireFormat) {
  const std::vector<ps::Block> blocks = {{3, 10, 5, 0}, {7, 0, 10, 0}, {200, 15, 300, 0}};
  std::vector<float> grads(315);
  for (std::size_t i = 0; i < grads.size(); ++i) grads[i] = 0.5f * static_cast<float>(i);
  ps::PushEncoder encoder(blocks);
  grpc::ByteBuffer buffer = encoder.encode(4, 1ULL << 40, 0.125f, grads);
  grpc::Slice flat;
  ASSERT_TRUE(buffer.DumpToSingleSlice(&flat).ok());
  v1::PushRequest push;
  ASSERT_TRUE(push.ParseFromArray(flat.begin(), static_cast<int>(flat.size())));
  EXPECT_EQ(push.worker(), 4u);
  EXPECT_EQ(push.clock(), 1ULL << 40);
  EXPECT_FLOAT_EQ(push.lr(), 0.125f);
  ASSERT_EQ(push.grads_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto& b = blocks[static_cast<std::size_t>(i)];
    EXPECT_EQ(push.grads(i).key(), b.key);
    const auto values = ps::as_floats(push.grads(i).values());
    ASSERT_EQ(values.size(), static_cast<std::size_t>(b.length));
    EXPECT_FLOAT_EQ(values[0], grads[static_cast<std::size_t>(b.offset)]);
  }
  // A PullResponse serialized by protobuf, cut into uneven slices, decodes into place.
  v1::PullResponse pull;
  pull.set_version(9);
  for (const auto& b : blocks) {
    auto* t = pull.add_blocks();
    t->set_key(b.key);
    t->set_values(ps::to_bytes(std::span<const float>(grads).subspan(static_cast<std::size_t>(b.offset), static_cast<std::size_t>(b.length))));
  }
  const std::string bytes = pull.SerializeAsString();
  auto sliced = [](const std::string& b) {
    std::vector<grpc::Slice> parts;
    for (std::size_t at = 0; at < b.size(); at += 37) parts.emplace_back(b.data() + at, std::min<std::size_t>(37, b.size() - at));
    return grpc::ByteBuffer(parts.data(), parts.size());
  };
  std::vector<float> params(315, -1.0f);
  ASSERT_TRUE(ps::decode_pull(sliced(bytes), blocks, params).is_ok());
  EXPECT_EQ(params, grads);
  // Truncated, reordered or resized answers are errors, not garbage parameters.
  EXPECT_FALSE(ps::decode_pull(sliced(bytes.substr(0, bytes.size() - 3)), blocks, params).is_ok());
  std::vector<ps::Block> reordered = {blocks[1], blocks[0], blocks[2]};
  EXPECT_FALSE(ps::decode_pull(sliced(bytes), reordered, params).is_ok());
  std::vector<ps::Block> longer = blocks;
  longer[2].length = 301;
  EXPECT_FALSE(ps::decode_pull(sliced(bytes), longer, params).is_ok());
}

// The server's side of the fast path: a protobuf PushRequest arriving in uneven slices is read in
// place (blocks split across slices are gathered), and the answer it writes is a PullResponse.
TEST(PsWire, TheServerReadsPushesInPlaceAndWritesPullResponses) {
  v1::PushRequest push;
  push.set_worker(3);
  push.set_clock(12);
  push.set_lr(0.25f);
  std::vector<float> a(300), b(5);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) - 7.5f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = 100.0f + static_cast<float>(i);
  auto* t = push.add_grads();
  t->set_key(7);
  t->set_values(ps::to_bytes(a));
  t = push.add_grads();
  t->set_key(1);
  t->set_values(ps::to_bytes(b));
  const std::string bytes = push.SerializeAsString();
  for (const std::size_t cut : {std::size_t{37}, bytes.size()}) {  // many slices; one slice
    std::vector<grpc::Slice> parts;
    for (std::size_t at = 0; at < bytes.size(); at += cut)
      parts.emplace_back(bytes.data() + at, std::min(cut, bytes.size() - at));
    auto view = ps::PushView::decode(grpc::ByteBuffer(parts.data(), parts.size()));
    ASSERT_TRUE(view.is_ok()) << view.status().message();
    EXPECT_EQ(view->worker, 3u);
    EXPECT_EQ(view->clock, 12u);
    EXPECT_EQ(view->lr, 0.25f);
    EXPECT_EQ(view->bytes, bytes.size());
    ASSERT_EQ(view->grads.size(), 2u);
    EXPECT_EQ(view->grads[0].key, 7u);
    EXPECT_EQ(view->grads[1].key, 1u);
    if (cut == 37) {
      EXPECT_GT(view->grads[0].pieces.size(), 1u);
    }
    std::vector<float> scratch0, scratch1;
    const auto got_a = ps::PushView::floats(view->grads[0], scratch0);
    const auto got_b = ps::PushView::floats(view->grads[1], scratch1);
    EXPECT_EQ(std::vector<float>(got_a.begin(), got_a.end()), a);
    EXPECT_EQ(std::vector<float>(got_b.begin(), got_b.end()), b);
  }
  // Truncated: an error, not a short block.
  {
    grpc::Slice cut(bytes.data(), bytes.size() - 5);
    EXPECT_FALSE(ps::PushView::decode(grpc::ByteBuffer(&cut, 1)).is_ok());
  }
  // The answer: one slice that protobuf parses back.
  ps::PullWriter writer(2, a.size() + b.size());
  writer.add(7, a);
  writer.add(1, b);
  grpc::ByteBuffer answer = writer.finish(41);
  grpc::Slice flat;
  ASSERT_TRUE(answer.DumpToSingleSlice(&flat).ok());
  EXPECT_EQ(flat.size(), writer.bytes());
  v1::PullResponse pull;
  ASSERT_TRUE(pull.ParseFromArray(flat.begin(), static_cast<int>(flat.size())));
  EXPECT_EQ(pull.version(), 41u);
  ASSERT_EQ(pull.blocks_size(), 2);
  EXPECT_EQ(pull.blocks(0).key(), 7u);
  EXPECT_EQ(pull.blocks(0).values(), ps::to_bytes(a));
  EXPECT_EQ(pull.blocks(1).values(), ps::to_bytes(b));
}

TEST(PsServerTest, MalformedRequestsAreRefusedAndTheServerGoesOnServing) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Raw raw(server->port());
  v1::RegisterResponse rr;
  // Strangers.
  EXPECT_EQ(raw.stub->Register(raw.ctx("wrong").get(), raw.reg(0, 2), &rr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  {
    grpc::ClientContext no_token;
    EXPECT_EQ(raw.stub->Register(&no_token, raw.reg(0, 2), &rr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // Bad registrations.
  auto reg = raw.reg(0, 2);
  reg.mutable_blocks(1)->set_length(1ULL << 40);  // huge
  EXPECT_EQ(raw.stub->Register(raw.ctx().get(), reg, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  reg = raw.reg(0, 2);
  reg.mutable_blocks(1)->set_key(0);  // duplicate key
  EXPECT_EQ(raw.stub->Register(raw.ctx().get(), reg, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  reg = raw.reg(0, 2, "gossip");
  EXPECT_EQ(raw.stub->Register(raw.ctx().get(), reg, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  reg = raw.reg(5, 2);
  EXPECT_EQ(raw.stub->Register(raw.ctx().get(), reg, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  reg = raw.reg(0, 2);
  reg.mutable_optimizer()->set_name("lion");
  EXPECT_EQ(raw.stub->Register(raw.ctx().get(), reg, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A good one, then a second worker that disagrees about the job.
  ASSERT_TRUE(raw.do_register(0, 2).ok());
  EXPECT_EQ(raw.do_register(1, 3).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(raw.do_register(1, 2, "sync").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Before Init nobody may push or pull.
  EXPECT_EQ(raw.send(raw.push(0, 0, 1.0f)).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(raw.init(0, 10.0f).ok());
  // An unregistered worker and a wrong token.
  EXPECT_EQ(raw.send(raw.push(1, 0, 1.0f)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(raw.send(raw.push(0, 0, 1.0f), "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Pushes with unknown keys, wrong sizes, truncated and oversized tensors, missing and repeated
  // blocks, a bad learning rate.
  auto p = raw.push(0, 0, 1.0f);
  p.mutable_grads(1)->set_key(99);
  EXPECT_EQ(raw.send(p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  p = raw.push(0, 0, 1.0f);
  p.mutable_grads(0)->mutable_values()->resize(7);  // truncated mid-float
  EXPECT_EQ(raw.send(p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  p = raw.push(0, 0, 1.0f);
  p.mutable_grads(0)->mutable_values()->append(std::string(1 << 20, '\0'));
  EXPECT_EQ(raw.send(p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  p = raw.push(0, 0, 1.0f);
  p.mutable_grads()->RemoveLast();
  EXPECT_EQ(raw.send(p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  p = raw.push(0, 0, 1.0f);
  p.mutable_grads(1)->set_key(0);
  EXPECT_EQ(raw.send(p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  p = raw.push(0, 0, 1.0f, std::nanf(""));
  EXPECT_EQ(raw.send(p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Bytes that are no protobuf at all.
  {
    grpc::GenericStub generic(raw.channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata(ps::kTokenMetadata, kToken);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const std::string junk = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x0f garbage";
    grpc::Slice slice(junk);
    grpc::ByteBuffer request(&slice, 1), response;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(&ctx, "/ringmaster.ps.v1.ParameterServer/Push", {}, &request, &response, [&](grpc::Status s) {
      std::lock_guard lock(mu);
      status = s;
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    EXPECT_FALSE(status.ok());
  }
  // None of that changed anything, and the good worker is still served.
  auto [s0, before] = raw.pull(0, 0);
  ASSERT_TRUE(s0.ok()) << s0.error_message();
  EXPECT_FLOAT_EQ(before, 10.0f);
  ASSERT_TRUE(raw.send(raw.push(0, 0, 1.0f, 0.5f)).ok());
  auto [s1, after] = raw.pull(0, 1);
  ASSERT_TRUE(s1.ok());
  EXPECT_FLOAT_EQ(after, 10.0f - 0.5f / 2);  // SGD without momentum: w - lr/W * g, W = 2 workers
  v1::StatsResponse stats;
  ASSERT_TRUE(raw.stub->Stats(raw.ctx().get(), v1::StatsRequest(), &stats).ok());
  EXPECT_EQ(stats.pushes(), 1u);
  EXPECT_GE(stats.rejected(), 14u);
}

TEST(PsServerTest, SyncModeAppliesTheMeanOnceAllWorkersPushed) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Raw raw(server->port());
  ASSERT_TRUE(raw.do_register(0, 2, "sync").ok());
  ASSERT_TRUE(raw.do_register(1, 2, "sync").ok());
  ASSERT_TRUE(raw.init(0, 0.0f).ok());
  ASSERT_TRUE(raw.send(raw.push(0, 0, 2.0f)).ok());
  // Worker 0's pull of step 1 waits for worker 1's push.
  auto [waiting, v] = raw.pull(0, 1, std::chrono::milliseconds(300));
  EXPECT_EQ(waiting.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(waiting.error_message().find("worker(s) 1"), std::string::npos) << waiting.error_message();
  ASSERT_TRUE(raw.send(raw.push(1, 0, 4.0f)).ok());
  auto [ok, value] = raw.pull(0, 1);
  ASSERT_TRUE(ok.ok());
  EXPECT_FLOAT_EQ(value, -3.0f);  // 0 - 1.0 * mean(2, 4)
  // A repeated push of a step already applied changes nothing.
  ASSERT_TRUE(raw.send(raw.push(0, 0, 100.0f)).ok());
  EXPECT_FLOAT_EQ(raw.pull(0, 1).second, -3.0f);
  // Workers ahead of the server (it restarted from an older snapshot) move its step forward.
  ASSERT_TRUE(raw.send(raw.push(0, 5, 2.0f)).ok());
  ASSERT_TRUE(raw.send(raw.push(1, 5, 2.0f)).ok());
  EXPECT_FLOAT_EQ(raw.pull(0, 6).second, -5.0f);
  // A barrier holds the first worker until the second arrives.
  auto barrier = [&](uint32_t worker, std::chrono::milliseconds wait) {
    v1::BarrierRequest req;
    req.set_worker(worker);
    req.set_generation(1);
    v1::BarrierResponse resp;
    auto ctx = raw.ctx();
    ctx->set_deadline(std::chrono::system_clock::now() + wait);
    return raw.stub->Barrier(ctx.get(), req, &resp);
  };
  EXPECT_EQ(barrier(0, std::chrono::milliseconds(300)).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  std::thread late([&] { EXPECT_TRUE(barrier(1, std::chrono::seconds(5)).ok()); });
  EXPECT_TRUE(barrier(0, std::chrono::seconds(5)).ok());
  late.join();
}

TEST(PsServerTest, SspLetsAWorkerRunAtMostStalenessStepsAhead) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Raw raw(server->port());
  ASSERT_TRUE(raw.do_register(0, 2, "ssp", 2).ok());
  ASSERT_TRUE(raw.do_register(1, 2, "ssp", 2).ok());
  ASSERT_TRUE(raw.init(0, 0.0f).ok());
  for (uint64_t c = 0; c < 3; ++c) ASSERT_TRUE(raw.send(raw.push(0, c, 1.0f)).ok());
  // Worker 0 is at clock 3, worker 1 at 0: up to clock 2 may pull, 3 must wait.
  EXPECT_TRUE(raw.pull(0, 2).first.ok());
  EXPECT_EQ(raw.pull(0, 3, std::chrono::milliseconds(300)).first.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(raw.send(raw.push(1, 0, 1.0f)).ok());
  EXPECT_TRUE(raw.pull(0, 3).first.ok());
}

TEST(PsServerTest, SnapshotsRestoreParametersOptimizerStateAndClocks) {
  const fs::path dir = fs::temp_directory_path() / ("rm_ps_snap_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  float trained = 0;
  {
    auto server = start_server(dir.string());
    Raw raw(server->port());
    ASSERT_TRUE(raw.do_register(0, 1).ok());
    ASSERT_TRUE(raw.init(0, 1.0f).ok());
    for (uint64_t c = 0; c < 3; ++c) ASSERT_TRUE(raw.send(raw.push(0, c, 1.0f, 0.1f)).ok());
    trained = raw.pull(0, 3).second;
    ASSERT_TRUE(server->save().is_ok());
    server->shutdown();
  }
  auto server = start_server(dir.string());
  ASSERT_TRUE(server);
  Raw raw(server->port());
  v1::RegisterResponse rr;
  ASSERT_TRUE(raw.stub->Register(raw.ctx().get(), raw.reg(0, 1), &rr).ok());
  EXPECT_TRUE(rr.initialized());
  EXPECT_EQ(rr.clock(), 3u);
  EXPECT_FLOAT_EQ(raw.pull(0, 3).second, trained);
  // The momentum survived too: the next step moves as far as an uninterrupted one would (SGD with
  // the default momentum 0 here is w - lr*g; the restored optimizer's step count is 3).
  ASSERT_TRUE(raw.send(raw.push(0, 3, 1.0f, 0.1f)).ok());
  EXPECT_NEAR(raw.pull(0, 4).second, trained - 0.1f, 1e-6);
  server->shutdown();
  // A damaged snapshot is refused with its path, not silently replaced.
  const std::string path = ps::checkpoint_path(dir.string(), 0);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x5a');
  }
  ps::ServerOptions o;
  o.token = kToken;
  o.checkpoint_dir = dir.string();
  auto broken = ps::PsServer::start(o);
  ASSERT_FALSE(broken.is_ok());
  EXPECT_NE(broken.status().message().find(path), std::string::npos) << broken.status().message();
  fs::remove_all(dir);
}

namespace {

class PsTrainingTest : public ScratchFixture {
 protected:
  static worker::TrainConfig small() {
    worker::TrainConfig c;
    c.model = "mlp:784-32-10";
    c.dataset = worker::DataSource::kSynthetic;
    c.synthetic_samples = 512;
    c.test_limit = 100;
    c.epochs = 2;
    c.batch_size = 32;
    c.progress = worker::Progress::kLines;
    return c;
  }
  // Trains with `workers` threads against `servers` in-process servers; returns worker 0's summary.
  worker::TrainSummary train(const worker::TrainConfig& c, int workers, const std::string& mode, int servers = 2,
                             const std::function<void(std::vector<std::unique_ptr<ps::PsServer>>&)>& meanwhile = {}) {
    std::vector<std::unique_ptr<ps::PsServer>> running;
    std::vector<std::string> addresses;
    for (int i = 0; i < servers; ++i) {
      running.push_back(start_server((dir_ / "ps").string(), 0, i));
      addresses.push_back("127.0.0.1:" + std::to_string(running.back()->port()));
    }
    worker::TrainSummary first;
    std::vector<std::thread> threads;
    std::mutex mu;
    for (int w = 0; w < workers; ++w)
      threads.emplace_back([&, w] {
        ps::ClientOptions o;
        o.servers = addresses;
        o.worker = w;
        o.workers = workers;
        o.token = kToken;
        o.mode = *ps::parse_mode(mode);
        o.timeout_seconds = 20;
        auto client = ps::make_client(o);
        auto r = worker::run_training(c, sink_, nullptr, client.get());
        ASSERT_TRUE(r.is_ok()) << "worker " << w << ": " << r.status().message();
        std::lock_guard lock(mu);
        if (w == 0) first = *r;
      });
    if (meanwhile) meanwhile(running);
    for (auto& t : threads) t.join();
    return first;
  }
  static std::vector<float> weights(const fs::path& dir, const worker::TrainConfig& c) {
    auto model = worker::Model::create(c.model, {1, 28, 28}, 10);
    auto opt = worker::make_optimizer(c.optimizer, (*model)->param_count());
    worker::TrainState state;
    auto r = worker::resume_from(dir.string(), **model, **opt, state);
    EXPECT_TRUE(r.is_ok() && !r->path.empty()) << "no checkpoint in " << dir;
    auto p = (*model)->params();
    return {p.begin(), p.end()};
  }
};

}  // namespace

TEST_F(PsTrainingTest, SyncModeTrainsTheWeightsOfAllreduce) {
  worker::TrainConfig c = small();
  c.checkpoint_dir = (dir_ / "ps-run").string();
  const auto s = train(c, 2, "sync");
  EXPECT_EQ(s.global_step, 2 * 512 / 64);
  worker::TrainConfig a = small();
  a.checkpoint_dir = (dir_ / "allreduce").string();
  collectives::testing::run_ranks(2, [&](collectives::Communicator& comm) {
    auto r = worker::run_training(a, sink_, &comm);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
  });
  const auto x = weights(dir_ / "ps-run", c), y = weights(dir_ / "allreduce", a);
  ASSERT_EQ(x.size(), y.size());
  double worst = 0, norm = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(x[i] - y[i])));
    norm = std::max(norm, static_cast<double>(std::fabs(y[i])));
  }
  EXPECT_LT(worst, 1e-5 * std::max(1.0, norm)) << "largest difference " << worst;
  EXPECT_GT(norm, 0.01);
}

TEST_F(PsTrainingTest, AsyncAndSspTrainToUsefulAccuracy) {
  worker::TrainConfig c = small();
  c.epochs = 4;
  // Asynchrony acts as extra momentum (Mitliagkas et al., "Asynchrony begets momentum", 2016):
  // with 3 workers momentum 0.9 oscillates on this task; 0.5 converges.
  c.optimizer.momentum = 0.5f;
  for (const char* mode : {"async", "ssp"}) {
    const auto s = train(c, 3, mode);
    EXPECT_GT(s.accuracy, 0.8) << mode;  // the synthetic task: 10 classes, chance is 0.1
    fs::remove_all(dir_ / "ps");
  }
}

TEST_F(PsTrainingTest, WorkersRideOutAServerRestartedFromItsSnapshot) {
  worker::TrainConfig c = small();
  c.epochs = 60;
  c.optimizer.momentum = 0.5f;
  uint64_t version_at_restart = 0;
  const auto s = train(c, 2, "async", 1, [&](std::vector<std::unique_ptr<ps::PsServer>>& servers) {
    // Restart once the workers are well into the run (a third of its 960 pushes).
    Raw raw(servers[0]->port());
    v1::StatsResponse stats;
    for (int i = 0; i < 2000 && stats.version() < 320; ++i) {
      stats.Clear();
      ASSERT_TRUE(raw.stub->Stats(raw.ctx().get(), v1::StatsRequest(), &stats).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    version_at_restart = stats.version();
    const int port = servers[0]->port();
    servers[0]->shutdown();  // writes its snapshot
    servers[0].reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    servers[0] = start_server((dir_ / "ps").string(), port, 0);
    ASSERT_TRUE(servers[0]) << "could not restart on port " << port;
  });
  EXPECT_GE(version_at_restart, 320u);
  EXPECT_LT(version_at_restart, 900u) << "the run was nearly over before the restart";
  EXPECT_EQ(s.global_step, 60 * 512 / 64);
  EXPECT_GT(s.accuracy, 0.8);
}
