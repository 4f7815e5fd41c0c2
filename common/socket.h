// TCP socket helpers for the store and the TCP transport. Every blocking call takes a Deadline and
// fails with kDeadlineExceeded when it passes, kUnavailable when the peer closes or resets.
// Functions are thread-safe; a socket must not be used by two threads in the same direction at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/deadline.h"
#include "common/fd.h"
#include "common/status.h"

namespace ringmaster {

struct Endpoint {
  std::string host;
  int port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

// Whether host names this machine's loopback: "localhost" or 127.0.0.0/8 (the sockets here are
// IPv4; any other name, ::1 too, counts as reachable from elsewhere).
bool is_loopback(std::string_view host);

// Parses "host:port". Fails with kInvalidArgument naming what it found.
Result<Endpoint> parse_endpoint(const std::string& text);

// A listening socket on host:port (port 0: an ephemeral port). EADDRINUSE says who to suspect.
Result<UniqueFd> listen_tcp(const std::string& host, int port, int backlog = 128);
// The port a socket is bound to.
int local_port(int fd);
// A TCP port that was free on 127.0.0.1 a moment ago (0 when none could be had); another process
// may take it before the caller binds it, as with every port chosen this way.
int free_loopback_port();

// host's IPv4 address, dotted: a literal, "localhost", or a name the resolver (/etc/hosts, DNS)
// knows. Fails with kInvalidArgument naming the host.
Result<std::string> resolve_ipv4(const std::string& host);

// Connects, retrying refused connections until the deadline (the listener may not be up yet).
Result<UniqueFd> connect_tcp(const Endpoint& to, Deadline deadline);
// Accepts one connection on a listening socket before the deadline.
Result<UniqueFd> accept_tcp(int listen_fd, Deadline deadline);

// TCP_NODELAY, and send/receive buffers of at least `buffer_bytes` when > 0.
void tune_socket(int fd, int buffer_bytes);
Status set_nonblocking(int fd, bool on);

// Blocking-with-deadline full transfers on a (nonblocking or blocking) socket. `what` names the
// peer in messages ("rank 3").
Status send_all(int fd, const void* data, std::size_t n, Deadline deadline, const std::string& what);
Status recv_all(int fd, void* data, std::size_t n, Deadline deadline, const std::string& what);

// Length-prefixed frames (u32 little-endian length, then the bytes), at most max_bytes long.
Status send_frame(int fd, const std::string& payload, Deadline deadline, const std::string& what);
Result<std::string> recv_frame(int fd, Deadline deadline, const std::string& what,
                               std::size_t max_bytes = 64u << 20);

}  // namespace ringmaster
