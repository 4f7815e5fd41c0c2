#include "common/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include "common/strings.h"

namespace ringmaster {
namespace {

std::string err() { return std::strerror(errno); }

Result<sockaddr_in> resolve(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  const std::string h = host.empty() || host == "*" ? "0.0.0.0" : (host == "localhost" ? "127.0.0.1" : host);
  if (inet_pton(AF_INET, h.c_str(), &a.sin_addr) == 1) return a;
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || res == nullptr)
    return invalid_argument(fmt::format("cannot resolve host \"{}\" to an IPv4 address", host));
  std::memcpy(&a.sin_addr, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, sizeof a.sin_addr);
  freeaddrinfo(res);
  return a;
}

// Waits until fd is ready for `events` or the deadline passes.
Status wait_ready(int fd, short events, Deadline deadline, const std::string& what, const char* doing) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, std::min(deadline.remaining_ms(), 1000));
    if (r > 0) return Status::ok();
    if (r < 0 && errno != EINTR) return internal_error(fmt::format("poll while {} {}: {}", doing, what, err()));
    if (deadline.expired())
      return Status(StatusCode::kDeadlineExceeded, fmt::format("timed out {} {}", doing, what));
  }
}

}  // namespace

bool is_loopback(std::string_view host) { return host == "localhost" || host.starts_with("127."); }

Result<Endpoint> parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  int port = -1;
  if (colon != std::string::npos) port = parse_int<int>(std::string_view(text).substr(colon + 1)).value_or(-1);
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535)
    return invalid_argument(fmt::format("expected host:port, found \"{}\"", text));
  return Endpoint{text.substr(0, colon), port};
}

Result<UniqueFd> listen_tcp(const std::string& host, int port, int backlog) {
  auto addr = resolve(host, port);
  if (!addr) return addr.status();
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return internal_error("socket: " + err());
  // A restarted job may reuse its port while old connections sit in TIME_WAIT. On Linux this still
  // refuses a second listener on the port, so another job holding it is reported below.
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_in)) != 0) {
    if (errno == EADDRINUSE)
      return Status(StatusCode::kAlreadyExists,
                    fmt::format("{}:{} is already in use (another job or process holds this port)", host, port));
    return invalid_argument(fmt::format("cannot bind {}:{}: {}", host, port, err()));
  }
  if (::listen(fd.get(), backlog) != 0) return internal_error("listen: " + err());
  return fd;
}

int local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return -1;
  return ntohs(a.sin_port);
}

int free_loopback_port() {
  auto fd = listen_tcp("127.0.0.1", 0);
  return fd ? local_port(fd->get()) : 0;
}

Result<std::string> resolve_ipv4(const std::string& host) {
  auto a = resolve(host, 0);
  if (!a) return a.status();
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  return std::string(buf);
}

Result<UniqueFd> connect_tcp(const Endpoint& to, Deadline deadline) {
  std::string last = "no attempt";
  auto backoff = std::chrono::milliseconds(5);
  while (true) {
    // Resolved at every attempt: in a cluster a peer's name may not resolve until its pod exists,
    // and names a new address after its pod is replaced.
    auto addr = resolve(to.host, to.port);
    if (!addr) {
      if (deadline.expired()) return addr.status();
      last = addr.status().message();
      std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(deadline.remaining_ms(), 1, 200)));
      continue;
    }
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return internal_error("socket: " + err());
    int r = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_in));
    if (r != 0 && errno == EINPROGRESS) {
      if (auto s = wait_ready(fd.get(), POLLOUT, deadline, to.to_string(), "connecting to"); !s) return s;
      int so = 0;
      socklen_t len = sizeof so;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so, &len);
      r = so == 0 ? 0 : -1;
      errno = so;
    }
    if (r == 0) {
      if (auto s = set_nonblocking(fd.get(), false); !s) return s;
      return fd;
    }
    last = err();
    if (deadline.expired())
      return Status(StatusCode::kDeadlineExceeded,
                    fmt::format("timed out connecting to {} (last error: {})", to.to_string(), last));
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        backoff, std::chrono::milliseconds(std::max(1, deadline.remaining_ms()))));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
  }
}

Result<UniqueFd> accept_tcp(int listen_fd, Deadline deadline) {
  if (auto s = wait_ready(listen_fd, POLLIN, deadline, "a peer", "waiting for"); !s) return s;
  UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd.valid()) return internal_error("accept: " + err());
  return fd;
}

void tune_socket(int fd, int buffer_bytes) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (buffer_bytes > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
  }
}

Status set_nonblocking(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK)) != 0)
    return internal_error("fcntl: " + err());
  return Status::ok();
}

Status send_all(int fd, const void* data, std::size_t n, Deadline deadline, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (auto s = wait_ready(fd, POLLOUT, deadline, what, "sending to"); !s) return s;
      continue;
    }
    return Status(StatusCode::kUnavailable, fmt::format("connection to {} lost while sending: {}", what,
                                                        r < 0 ? err() : "closed"));
  }
  return Status::ok();
}

Status recv_all(int fd, void* data, std::size_t n, Deadline deadline, const std::string& what) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (auto s = wait_ready(fd, POLLIN, deadline, what, "receiving from"); !s) return s;
      continue;
    }
    return Status(StatusCode::kUnavailable,
                  fmt::format("connection to {} lost while receiving: {}", what, r < 0 ? err() : "closed by the peer"));
  }
  return Status::ok();
}

Status send_frame(int fd, const std::string& payload, Deadline deadline, const std::string& what) {
  std::string buf(4 + payload.size(), '\0');
  const auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) buf[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  std::memcpy(buf.data() + 4, payload.data(), payload.size());
  return send_all(fd, buf.data(), buf.size(), deadline, what);
}

Result<std::string> recv_frame(int fd, Deadline deadline, const std::string& what, std::size_t max_bytes) {
  unsigned char len[4];
  if (auto s = recv_all(fd, len, 4, deadline, what); !s) return s;
  const std::size_t n = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<std::size_t>(len[3]) << 24);
  if (n > max_bytes)
    return data_loss(fmt::format("{} sent a frame of {} bytes, more than the {} allowed (not a ringmaster peer?)",
                                 what, n, max_bytes));
  std::string payload(n, '\0');
  if (auto s = recv_all(fd, payload.data(), n, deadline, what); !s) return s;
  return payload;
}

}  // namespace ringmaster
