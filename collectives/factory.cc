#include "collectives/factory.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "collectives/mpi.h"

namespace ringmaster::collectives {
namespace {

Result<int> int_var(const Getenv& getenv, const char* name, int lo, int hi) {
  const char* v = getenv(name);
  int x = 0;
  const std::string s = v ? v : "";
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || x < lo || x > hi)
    return invalid_argument(fmt::format("environment variable {}: expected an integer in [{}, {}], found \"{}\"", name,
                                        lo, hi, s));
  return x;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

}  // namespace

Result<std::string> local_address_towards(const std::string& host) {
  if (is_loopback(host)) return std::string("127.0.0.1");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(9);
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    return invalid_argument(fmt::format("MASTER_ADDR: expected an IPv4 address to route to, found \"{}\" (set "
                                        "RINGMASTER_BIND_ADDR)",
                                        host));
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return Status(StatusCode::kUnavailable, fmt::format("no route to {}: {}", host, std::strerror(errno)));
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len);
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &local.sin_addr, buf, sizeof buf);
  return std::string(buf);
}

Result<RendezvousConfig> rendezvous_from_env(const Getenv& getenv) {
  RendezvousConfig c;
  auto str = [&](const char* name, std::string fallback) {
    const char* v = getenv(name);
    return v && *v ? std::string(v) : fallback;
  };
  c.backend = str("RINGMASTER_COLLECTIVES", "auto");
  if (c.backend != "auto" && c.backend != "tcp" && c.backend != "mpi")
    return invalid_argument(fmt::format("environment variable RINGMASTER_COLLECTIVES: expected auto, tcp or mpi, "
                                        "found \"{}\"",
                                        c.backend));
  c.token = str("RINGMASTER_JOB_TOKEN", "");
  c.job = str("RINGMASTER_JOB_NAME", "ringmaster");
  c.bind_host = str("RINGMASTER_BIND_ADDR", "");
  if (getenv("RINGMASTER_TIMEOUT_SECONDS")) {
    auto t = int_var(getenv, "RINGMASTER_TIMEOUT_SECONDS", 1, 86400);
    if (!t) return t.status();
    c.options.timeout = std::chrono::seconds(*t);
  }
  if (getenv("OMPI_COMM_WORLD_SIZE") && !getenv("WORLD_SIZE")) {
    auto size = int_var(getenv, "OMPI_COMM_WORLD_SIZE", 1, 1 << 20);
    if (!size) return size.status();
    auto rank = int_var(getenv, "OMPI_COMM_WORLD_RANK", 0, *size - 1);
    if (!rank) return rank.status();
    c.world_size = *size;
    c.rank = *rank;
    c.from_mpi = true;
    return c;
  }
  if (!getenv("WORLD_SIZE")) return c;  // a world of one
  auto size = int_var(getenv, "WORLD_SIZE", 1, 1 << 20);
  if (!size) return size.status();
  auto rank = int_var(getenv, "RANK", 0, *size - 1);
  if (!rank) return rank.status();
  c.world_size = *size;
  c.rank = *rank;
  if (c.world_size > 1) {
    if (!getenv("MASTER_ADDR"))
      return invalid_argument("environment variable MASTER_ADDR: expected the address of rank 0, found none");
    auto port = int_var(getenv, "MASTER_PORT", 1, 65535);
    if (!port) return port.status();
    c.master = {str("MASTER_ADDR", ""), *port};
  }
  return c;
}

Result<std::unique_ptr<Communicator>> create(const RendezvousConfig& c) {
  const Deadline deadline = Deadline::after(c.options.timeout);
  const StoreIdentity id{c.token, c.job, c.world_size, c.rank};
  if (c.backend == "mpi") return make_mpi_communicator(c.options);
  std::string bind = c.bind_host;
  if (bind.empty()) {
    if (c.from_mpi) {
      bind = "127.0.0.1";  // under mpirun on one host; multi-host mpirun sets RINGMASTER_BIND_ADDR
    } else {
      auto local = local_address_towards(c.master.host);
      if (!local) return local.status();
      bind = *local;
    }
  }
  TcpOptions tcp;
  tcp.bind_host = bind;
  if (c.world_size == 1) {
    auto t = make_tcp_transport(AddressExchange{}, id, tcp, deadline);
    if (!t) return t.status();
    return make_communicator(std::move(*t), c.options);
  }
  if (c.from_mpi) {
    auto t = make_tcp_transport(mpi_address_exchange(), id, tcp, deadline);
    if (!t) return t.status();
    return make_communicator(std::move(*t), c.options);
  }
  // Rank 0 serves the store; everyone (rank 0 too) joins it as a client.
  std::shared_ptr<TcpStoreServer> server;
  if (c.rank == 0) {
    auto s = TcpStoreServer::start(is_loopback(c.master.host) ? "127.0.0.1" : "0.0.0.0", c.master.port, id);
    if (!s) return s.status().with_context("rank 0: serving the rendezvous store at MASTER_ADDR:MASTER_PORT");
    server = std::move(*s);
  }
  auto store = connect_tcp_store(c.master, id, deadline);
  if (!store) return store.status().with_context(fmt::format("rank {}", c.rank));
  auto t = make_tcp_transport(**store, id, tcp, deadline);
  if (!t) return t.status();
  // The store must outlive the transport's setup only; the server must stay up until every rank
  // has read the addresses, which the mesh construction guarantees.
  return make_communicator(std::move(*t), c.options);
}

}  // namespace ringmaster::collectives
