#include "collectives/store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "common/strings.h"

namespace ringmaster::collectives {
namespace {

// ---- wire format: op byte, then u32-length strings and i64 integers, all little-endian ----
enum Op : char { kHello = 'H', kSet = 'S', kGet = 'G', kAdd = 'A', kHold = 'L', kRelease = 'R', kOk = 'O',
                 kValue = 'V', kInt = 'I', kErr = 'E', kTimeout = 'T' };

class Writer {
 public:
  explicit Writer(Op op) { out_.push_back(op); }
  Writer& str(const std::string& s) {
    num(static_cast<int64_t>(s.size()));
    out_ += s;
    return *this;
  }
  Writer& num(int64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
    return *this;
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  Op op() { return pos_ < in_.size() ? static_cast<Op>(in_[pos_++]) : Op(0); }
  bool num(int64_t& v) {
    if (in_.size() - pos_ < 8) return false;
    uint64_t u = 0;
    for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<uint8_t>(in_[pos_ + static_cast<std::size_t>(i)]);
    pos_ += 8;
    v = static_cast<int64_t>(u);
    return true;
  }
  bool str(std::string& s) {
    int64_t n = 0;
    if (!num(n) || n < 0 || static_cast<uint64_t>(n) > in_.size() - pos_) return false;
    s = in_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

 private:
  const std::string& in_;
  std::size_t pos_ = 0;
};

// The integer at key in map plus delta, stored back and returned (0 when absent).
int64_t add_to(std::map<std::string, std::string>& map, const std::string& key, int64_t delta) {
  int64_t v = 0;
  if (auto it = map.find(key); it != map.end()) v = parse_int<int64_t>(it->second).value_or(0);
  v += delta;
  map[key] = std::to_string(v);
  return v;
}

// ---- in-memory store ----
class InMemoryStore final : public Store {
 public:
  Status set(const std::string& key, const std::string& value) override {
    {
      std::lock_guard lock(mutex_);
      map_[key] = value;
    }
    cv_.notify_all();
    return Status::ok();
  }
  Result<std::string> get(const std::string& key, Deadline deadline) override {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_until(lock, deadline.time_point(), [&] { return map_.count(key) > 0; }))
      return Status(StatusCode::kDeadlineExceeded, fmt::format("timed out waiting for key \"{}\" in the store", key));
    return map_[key];
  }
  Result<int64_t> add(const std::string& key, int64_t delta) override {
    int64_t v = 0;
    {
      std::lock_guard lock(mutex_);
      v = add_to(map_, key, delta);
    }
    cv_.notify_all();
    return v;
  }
  Result<std::unique_ptr<Hold>> hold(const std::string& key) override {
    // Threads of one process: the Hold's destructor is the only way a holder goes away.
    struct Counted final : Hold {
      Counted(InMemoryStore& store, std::string key) : store_(store), key_(std::move(key)) {}
      ~Counted() override { (void)store_.add(key_, -1); }
      InMemoryStore& store_;
      std::string key_;
    };
    if (auto v = add(key, 1); !v) return v.status();
    return std::unique_ptr<Hold>(std::make_unique<Counted>(*this, key));
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::string> map_;  // GUARDED_BY(mutex_)
};

// ---- TCP server ----
class TcpServer final : public TcpStoreServer {
 public:
  TcpServer(UniqueFd listener, StoreIdentity id)
      : listener_(std::move(listener)), id_(std::move(id)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    port_ = local_port(listener_.get());
    thread_ = std::jthread([this](std::stop_token stop) { serve(stop); });
  }
  ~TcpServer() override {
    thread_.request_stop();
    const uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
  int port() const override { return port_; }

 private:
  struct Client {
    UniqueFd fd;
    bool joined = false;
    std::string who = "an unidentified peer";
    std::vector<std::string> held;  // keys this client counts itself in (Store::hold), one entry per hold
  };
  struct PendingGet {
    int fd;
    std::string key;
    Deadline deadline;
  };

  void reply(Client& c, const std::string& bytes) {
    // Replies are small; a client that does not read them within a second is dropped.
    if (!send_frame(c.fd.get(), bytes, Deadline::after(std::chrono::seconds(1)), c.who)) c.fd.reset();
  }

  void handle(Client& c, const std::string& frame) {
    Reader r(frame);
    const Op op = r.op();
    if (!c.joined) {
      std::string token, job;
      int64_t world = 0, rank = 0;
      if (op != kHello || !r.str(token) || !r.str(job) || !r.num(world) || !r.num(rank)) {
        reply(c, Writer(kErr).str("refused: expected a ringmaster hello").bytes());
        c.fd.reset();
        return;
      }
      std::string why;
      if (!same_secret(token, id_.token))
        why = fmt::format("refused: the job token does not match the one of job \"{}\" served at port {} (another job "
                          "on the same MASTER_PORT, or a stray connection)",
                          id_.job, port_);
      else if (job != id_.job)
        why = fmt::format("refused: this store serves job \"{}\", not \"{}\"", id_.job, job);
      else if (world != id_.world_size && (world == 0 || id_.world_size == 0))
        why = id_.world_size == 0
                  ? fmt::format("refused: job \"{}\" is elastic (its workers join with --elastic), and a rank of a "
                                "fixed world of {} asked to join",
                                id_.job, world)
                  : fmt::format("refused: an elastic worker asked to join job \"{}\", whose world is fixed at {}",
                                id_.job, id_.world_size);
      else if (world != id_.world_size)
        why = fmt::format("refused: rank {} joined with world size {}, but job \"{}\" has world size {}", rank, world,
                          id_.job, id_.world_size);
      else if (world > 0 && (rank < 0 || rank >= world))
        why = fmt::format("refused: rank {} is outside the world of size {}", rank, world);
      if (!why.empty()) {
        reply(c, Writer(kErr).str(why).bytes());
        c.fd.reset();
        return;
      }
      c.joined = true;
      c.who = fmt::format("rank {}", rank);
      reply(c, Writer(kOk).bytes());
      return;
    }
    std::string key, value;
    int64_t n = 0;
    if (op == kSet && r.str(key) && r.str(value)) {
      map_[key] = value;
      reply(c, Writer(kOk).bytes());
      // Wake the waiters of this key.
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->key == key) {
          if (auto client = clients_.find(it->fd); client != clients_.end())
            reply(client->second, Writer(kValue).str(value).bytes());
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    } else if (op == kGet && r.str(key) && r.num(n)) {
      if (auto it = map_.find(key); it != map_.end())
        reply(c, Writer(kValue).str(it->second).bytes());
      else
        pending_.push_back({c.fd.get(), key, Deadline::after(std::chrono::milliseconds(n))});
    } else if (op == kAdd && r.str(key) && r.num(n)) {
      reply(c, Writer(kInt).num(add_to(map_, key, n)).bytes());
    } else if (op == kHold && r.str(key)) {
      c.held.push_back(key);
      reply(c, Writer(kInt).num(add_to(map_, key, 1)).bytes());
    } else if (op == kRelease && r.str(key)) {
      if (auto it = std::find(c.held.begin(), c.held.end(), key); it != c.held.end()) {
        c.held.erase(it);
        add_to(map_, key, -1);
      }
      reply(c, Writer(kOk).bytes());
    } else {
      reply(c, Writer(kErr).str("malformed request").bytes());
      c.fd.reset();
    }
  }

  void serve(std::stop_token stop) {
    while (!stop.stop_requested()) {
      std::vector<pollfd> fds = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      for (auto& [fd, c] : clients_) fds.push_back({fd, POLLIN, 0});
      int timeout = 1000;
      for (const auto& p : pending_) timeout = std::min(timeout, p.deadline.remaining_ms());
      if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (fd.valid()) {
          tune_socket(fd.get(), 0);
          const int key = fd.get();
          clients_[key].fd = std::move(fd);
        }
      }
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        auto it = clients_.find(fds[i].fd);
        if (it == clients_.end()) continue;
        // A frame is read whole once it starts; its sender is writing it right now.
        auto frame = recv_frame(it->second.fd.get(), Deadline::after(std::chrono::seconds(5)), it->second.who);
        if (frame) handle(it->second, *frame);
        if (!frame || !it->second.fd.valid()) drop(fds[i].fd);
      }
      // Expire waits whose deadline passed.
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->deadline.expired()) {
          if (auto client = clients_.find(it->fd); client != clients_.end())
            reply(client->second, Writer(kTimeout).bytes());
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  void drop(int fd) {
    // A client gone (closed, killed, dropped for misbehaving) no longer counts where it held.
    if (auto it = clients_.find(fd); it != clients_.end())
      for (const auto& key : it->second.held) add_to(map_, key, -1);
    clients_.erase(fd);
    std::erase_if(pending_, [fd](const PendingGet& p) { return p.fd == fd; });
  }

  // Constant after construction.
  UniqueFd listener_;
  StoreIdentity id_;
  UniqueFd wake_;
  int port_ = 0;
  // Owned by the server thread.
  std::map<int, Client> clients_;
  std::map<std::string, std::string> map_;
  std::vector<PendingGet> pending_;
  std::jthread thread_;
};

// ---- TCP client ----
class TcpClient final : public Store {
 public:
  TcpClient(UniqueFd fd, std::string server) : fd_(std::move(fd)), server_(std::move(server)) {}

  Status set(const std::string& key, const std::string& value) override {
    auto r = call(Writer(kSet).str(key).str(value), Deadline::after(std::chrono::seconds(30)));
    return r ? Status::ok() : r.status();
  }
  Result<std::string> get(const std::string& key, Deadline deadline) override {
    const int64_t ms = deadline.remaining_ms();
    // The server answers by the deadline; allow it a little slack to say so.
    auto r = call(Writer(kGet).str(key).num(ms), Deadline::after(std::chrono::milliseconds(ms + 2000)));
    if (!r) return r.status();
    Reader rd(*r);
    const Op op = rd.op();
    std::string value;
    if (op == kValue && rd.str(value)) return value;
    if (op == kTimeout)
      return Status(StatusCode::kDeadlineExceeded,
                    fmt::format("timed out waiting for key \"{}\" in the store at {}", key, server_));
    return data_loss(fmt::format("unexpected reply from the store at {}", server_));
  }
  Result<int64_t> add(const std::string& key, int64_t delta) override {
    auto r = call(Writer(kAdd).str(key).num(delta), Deadline::after(std::chrono::seconds(30)));
    if (!r) return r.status();
    Reader rd(*r);
    int64_t v = 0;
    if (rd.op() == kInt && rd.num(v)) return v;
    return data_loss(fmt::format("unexpected reply from the store at {}", server_));
  }
  Result<std::unique_ptr<Hold>> hold(const std::string& key) override {
    struct Held final : Hold {
      Held(TcpClient& client, std::string key) : client_(client), key_(std::move(key)) {}
      // Best effort: when the store cannot be told, closing the connection releases it too.
      ~Held() override { (void)client_.call(Writer(kRelease).str(key_), Deadline::after(std::chrono::seconds(1))); }
      TcpClient& client_;
      std::string key_;
    };
    auto r = call(Writer(kHold).str(key), Deadline::after(std::chrono::seconds(30)));
    if (!r) return r.status();
    return std::unique_ptr<Hold>(std::make_unique<Held>(*this, key));
  }

  Result<std::string> call(const Writer& request, Deadline deadline) {
    std::lock_guard lock(mutex_);
    const std::string what = "the store at " + server_;
    if (auto s = send_frame(fd_.get(), request.bytes(), deadline, what); !s) return s;
    auto reply = recv_frame(fd_.get(), deadline, what);
    if (!reply) return reply.status();
    Reader rd(*reply);
    std::string why;
    if (rd.op() == kErr && rd.str(why)) return Status(StatusCode::kFailedPrecondition, server_ + ": " + why);
    return reply;
  }

 private:
  std::mutex mutex_;  // one request at a time on the connection
  UniqueFd fd_;
  std::string server_;
};

}  // namespace

std::unique_ptr<Store> make_in_memory_store() { return std::make_unique<InMemoryStore>(); }

Result<std::unique_ptr<TcpStoreServer>> TcpStoreServer::start(const std::string& host, int port,
                                                              StoreIdentity identity) {
  auto fd = listen_tcp(host, port);
  if (!fd)
    return fd.status().code() == StatusCode::kAlreadyExists
               ? Status(StatusCode::kAlreadyExists, fd.status().message() + "; choose another MASTER_PORT")
               : fd.status();
  return std::unique_ptr<TcpStoreServer>(std::make_unique<TcpServer>(std::move(*fd), std::move(identity)));
}

Result<std::unique_ptr<Store>> connect_tcp_store(const Endpoint& server, const StoreIdentity& id, Deadline deadline) {
  auto fd = connect_tcp(server, deadline);
  if (!fd) return fd.status().with_context("joining the rendezvous store");
  tune_socket(fd->get(), 0);
  auto client = std::make_unique<TcpClient>(std::move(*fd), server.to_string());
  auto r = client->call(Writer(kHello).str(id.token).str(id.job).num(id.world_size).num(id.rank), deadline);
  if (!r) return r.status();
  return std::unique_ptr<Store>(std::move(client));
}

}  // namespace ringmaster::collectives
