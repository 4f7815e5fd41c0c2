// The TCP transport: a full mesh of nonblocking sockets; exchange() drives one send and one receive
// at once with poll(), so a ring step sends, receives and (through on_recv) reduces concurrently.
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "collectives/frame.h"
#include "common/socket.h"
#include "collectives/transport.h"
#include "collectives/types.h"

namespace ringmaster::collectives {
namespace {


class TcpTransport final : public frame::AbortingTransport {
 public:
  TcpTransport(int rank, std::vector<UniqueFd> peers) : rank_(rank), peers_(std::move(peers)) {
    // Spinning only pays while every rank can have a core of its own: an oversubscribed rank that
    // spins takes the core from the very peer it is waiting for.
    if (peers_.size() > std::max(1u, std::thread::hardware_concurrency())) spin_ = {};
  }
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(peers_.size()); }
  std::string name() const override { return "tcp"; }

 private:
  void close_all() override {
    for (auto& fd : peers_) fd.reset();
  }

  Status transfer(const CallSignature& sig, int to, std::span<const std::byte> send, int from,
                  std::span<std::byte> recv, const RecvProgress& on_recv, Deadline deadline) override {
    frame::Outgoing out(sig, to, send);
    frame::Incoming in(sig, rank_, from, recv, on_recv);
    const int to_fd = to >= 0 ? peers_[static_cast<std::size_t>(to)].get() : -1;
    const int from_fd = from >= 0 ? peers_[static_cast<std::size_t>(from)].get() : -1;
    std::chrono::steady_clock::time_point idle_since{};
    while (!out.done() || !in.done()) {
      bool progress = false;
      if (!out.done()) {
        iovec iov[2];
        int n = 0;
        for (std::span<const std::byte> piece : {out.header_rest(), out.payload_rest()})
          if (!piece.empty()) iov[n++] = {const_cast<std::byte*>(piece.data()), piece.size()};
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = static_cast<std::size_t>(n);
        const ssize_t r = ::sendmsg(to_fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
          out.advance(static_cast<std::size_t>(r));
          progress = true;
        } else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return lost(to, sig, "sending", std::strerror(errno));
        }
      }
      if (!in.done()) {
        const std::span<std::byte> space = in.space();
        const ssize_t r = ::recv(from_fd, space.data(), space.size(), MSG_DONTWAIT);
        if (r > 0) {
          progress = true;
          if (Status s = in.received(static_cast<std::size_t>(r)); !s) return s;
        } else if (r == 0) {
          return lost(from, sig, "receiving", "closed by the peer (did it exit or crash?)");
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return lost(from, sig, "receiving", std::strerror(errno));
        }
      }
      if (progress) {
        idle_since = {};
        continue;
      }
      // Nothing moved. A small message's reply is usually microseconds away, and sleeping in poll
      // costs a wake-up of several: retry without sleeping for a short while first.
      const auto now = std::chrono::steady_clock::now();
      if (idle_since == std::chrono::steady_clock::time_point{}) idle_since = now;
      if (now - idle_since < spin_) continue;
      pollfd fds[2];
      nfds_t n = 0;
      if (!out.done()) fds[n++] = {to_fd, POLLOUT, 0};
      if (!in.done()) {
        if (n == 1 && to_fd == from_fd)
          fds[0].events |= POLLIN;
        else
          fds[n++] = {from_fd, POLLIN, 0};
      }
      const int r = ::poll(fds, n, std::min(deadline.remaining_ms(), 1000));
      if (r == 0 && deadline.expired()) return frame::timed_out(rank_, sig, out, to, in, from);
    }
    in.finish();
    return Status::ok();
  }

  Status lost(int peer, const CallSignature& sig, const char* doing, const std::string& why) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("rank {}: connection to rank {} lost while {} in {}: {}", rank_, peer, doing,
                              sig.describe(), why));
  }

  int rank_;
  std::vector<UniqueFd> peers_;  // peers_[rank_] is unused
  std::chrono::microseconds spin_{50};  // how long an idle exchange retries before sleeping in poll
};

}  // namespace

AddressExchange store_address_exchange(Store& store, int rank, int n, const std::string& prefix, Deadline deadline) {
  return [&store, rank, n, prefix, deadline](const std::string& mine) -> Result<std::vector<std::string>> {
    if (auto s = store.set(fmt::format("{}/{}", prefix, rank), mine); !s) return s;
    std::vector<std::string> all(static_cast<std::size_t>(n));
    for (int peer = 0; peer < n; ++peer) {
      auto addr = store.get(fmt::format("{}/{}", prefix, peer), deadline);
      if (!addr) return addr.status().with_context(fmt::format("rank {}: waiting for rank {}'s address", rank, peer));
      all[static_cast<std::size_t>(peer)] = *addr;
    }
    return all;
  };
}

Result<std::unique_ptr<Transport>> make_tcp_transport(Store& store, const StoreIdentity& id, const TcpOptions& o,
                                                      Deadline deadline) {
  return make_tcp_transport(store_address_exchange(store, id.rank, id.world_size, o.key_prefix, deadline), id, o,
                            deadline);
}

Result<std::unique_ptr<Transport>> make_tcp_transport(const AddressExchange& exchange, const StoreIdentity& id,
                                                      const TcpOptions& o, Deadline deadline) {
  if (id.world_size == 1) return connect_tcp_mesh(UniqueFd(), {""}, id, deadline);
  auto listener = listen_tcp(o.bind_host, 0);
  if (!listener) return listener.status().with_context(fmt::format("rank {}: listening for peers", id.rank));
  const std::string host = o.advertise_host.empty() ? o.bind_host : o.advertise_host;
  auto addresses = exchange(fmt::format("{}:{}", host, local_port(listener->get())));
  if (!addresses) return addresses.status();
  return connect_tcp_mesh(std::move(*listener), *addresses, id, deadline);
}

Result<std::unique_ptr<Transport>> connect_tcp_mesh(UniqueFd listener, const std::vector<std::string>& addresses,
                                                    const StoreIdentity& id, Deadline deadline) {
  const int n = id.world_size, me = id.rank;
  std::vector<UniqueFd> peers(static_cast<std::size_t>(n));
  if (n > 1) {
    if (addresses.size() != static_cast<std::size_t>(n))
      return internal_error(fmt::format("rank {}: address exchange returned {} addresses for {} ranks", me,
                                        addresses.size(), n));
    // Connect to every lower rank and introduce ourselves with the token.
    for (int peer = 0; peer < me; ++peer) {
      const std::string& a = addresses[static_cast<std::size_t>(peer)];
      auto ep = parse_endpoint(a.substr(0, a.find('|')));
      if (!ep) return ep.status();
      auto fd = connect_tcp(*ep, deadline);
      if (!fd) return fd.status().with_context(fmt::format("rank {}: connecting to rank {}", me, peer));
      if (auto s = send_frame(fd->get(), fmt::format("{}\n{}", me, id.token), deadline, fmt::format("rank {}", peer));
          !s)
        return s;
      peers[static_cast<std::size_t>(peer)] = std::move(*fd);
    }
    // Accept every higher rank; each says who it is and proves it belongs to the job.
    for (int accepted = me + 1; accepted < n; ++accepted) {
      auto fd = accept_tcp(listener.get(), deadline);
      if (!fd) return fd.status().with_context(fmt::format("rank {}: waiting for ranks {}..{} to connect", me, me + 1, n - 1));
      auto hello = recv_frame(fd->get(), deadline, "a connecting peer", 4096);
      if (!hello) return hello.status();
      const auto nl = hello->find('\n');
      const int peer = nl == std::string::npos ? -1 : std::atoi(hello->substr(0, nl).c_str());
      if (nl == std::string::npos || hello->substr(nl + 1) != id.token || peer <= me || peer >= n ||
          peers[static_cast<std::size_t>(peer)].valid()) {
        --accepted;  // a stray or foreign connection: drop it and keep waiting
        continue;
      }
      peers[static_cast<std::size_t>(peer)] = std::move(*fd);
    }
    for (auto& fd : peers)
      if (fd.valid()) {
        tune_socket(fd.get(), 0);
        if (auto s = set_nonblocking(fd.get(), true); !s) return s;
      }
  }
  return std::unique_ptr<Transport>(std::make_unique<TcpTransport>(me, std::move(peers)));
}

}  // namespace ringmaster::collectives
