#include "collectives/factory.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <thread>

#include "collectives/mpi.h"
#include "collectives/nccl.h"
#include "common/tf_config.h"
#include "common/strings.h"

namespace ringmaster::collectives {
namespace {

Result<int> int_var(const Getenv& getenv, const char* name, int lo, int hi) {
  const char* v = getenv(name);
  const std::string s = v ? v : "";
  const auto x = parse_int<int>(s);
  if (!x || *x < lo || *x > hi)
    return invalid_argument(fmt::format("environment variable {}: expected an integer in [{}, {}], found \"{}\"", name,
                                        lo, hi, s));
  return *x;
}

// RINGMASTER_DEVICE, else the launcher's local rank variable, else 0.
Result<int> device_var(const Getenv& getenv, const char* local_rank) {
  if (getenv("RINGMASTER_DEVICE")) return int_var(getenv, "RINGMASTER_DEVICE", 0, 1023);
  if (getenv(local_rank)) return int_var(getenv, local_rank, 0, 1 << 20);
  return 0;
}

// Rank 0 serves the store at MASTER_ADDR:MASTER_PORT (on loopback only when the master is
// loopback); every rank, rank 0 too, joins it as a client.
Status join_store(const RendezvousConfig& c, const StoreIdentity& id, Deadline deadline,
                  std::unique_ptr<TcpStoreServer>& server, std::unique_ptr<Store>& store) {
  if (c.rank == 0) {
    auto s = TcpStoreServer::start(is_loopback(c.master.host) ? "127.0.0.1" : "0.0.0.0", c.master.port, id);
    if (!s) return s.status().with_context("rank 0: serving the rendezvous store at MASTER_ADDR:MASTER_PORT");
    server = std::move(*s);
  }
  auto joined = connect_tcp_store(c.master, id, deadline);
  if (!joined) return joined.status().with_context(fmt::format("rank {}", c.rank));
  store = std::move(*joined);
  return Status::ok();
}

}  // namespace

Result<std::string> local_address_towards(const std::string& host, Deadline deadline) {
  if (is_loopback(host)) return std::string("127.0.0.1");
  Result<std::string> ip = resolve_ipv4(host);
  while (!ip && !deadline.expired()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ip = resolve_ipv4(host);
  }
  if (!ip)
    return invalid_argument(fmt::format("MASTER_ADDR: {} (or set RINGMASTER_BIND_ADDR to this host's address)",
                                        ip.status().message()));
  if (is_loopback(*ip)) return std::string("127.0.0.1");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(9);
  inet_pton(AF_INET, ip->c_str(), &a.sin_addr);
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

Result<std::string> this_host_address() {
  char name[256] = "";
  if (::gethostname(name, sizeof name - 1) != 0) return internal_error(std::string("gethostname: ") + std::strerror(errno));
  auto ip = resolve_ipv4(name);
  if (!ip || is_loopback(*ip))
    return invalid_argument(fmt::format("this host's name \"{}\" resolves to {}, not an address other hosts reach: set "
                                        "RINGMASTER_BIND_ADDR",
                                        name, ip ? *ip : ip.status().message()));
  return *ip;
}

// A TFJob's replicas: the chief (when there is one) is rank 0, then the workers by index; rank 0
// serves the store on its own TF_CONFIG port. Parameter servers and evaluators take no part.
static Result<RendezvousConfig> from_tf_config(RendezvousConfig c, const char* text) {
  const auto bad = [](const std::string& what) {
    return invalid_argument("environment variable TF_CONFIG: " + what);
  };
  auto tf = parse_tf_config(text);
  if (!tf) return tf.status();
  if (tf->type == "ps" || tf->type == "evaluator")
    return bad(fmt::format("task.type: a {} takes no part in allreduce training (use --strategy ps for a TFJob "
                           "with parameter servers)",
                           tf->type));
  if (!tf->is_training_task())
    return bad(fmt::format("task.type: expected chief, master or worker, found \"{}\"", tf->type));
  const std::vector<std::string> members = tf->training_members();
  const int rank = tf->training_rank();
  if (members.empty() || rank < 0 || rank >= static_cast<int>(members.size()))
    return bad(fmt::format("task {} {} is not in the cluster", tf->type, tf->index));
  c.world_size = static_cast<int>(members.size());
  c.rank = rank;
  if (c.world_size > 1) {
    auto ep = parse_endpoint(members[0]);
    if (!ep) return bad(fmt::format("cluster: the first member \"{}\": {}", members[0], ep.status().message()));
    c.master = *ep;
    c.has_master = true;
  }
  return c;
}

Status check_backend(const std::string& backend, const std::string& what) {
  for (const char* known : {"auto", "tcp", "shm", "mpi", "nccl"})
    if (backend == known) return Status::ok();
  return invalid_argument(fmt::format("{}: expected auto, tcp, shm, mpi or nccl, found \"{}\"", what, backend));
}

Result<RendezvousConfig> rendezvous_from_env(const Getenv& getenv) {
  RendezvousConfig c;
  auto str = [&](const char* name, std::string fallback) {
    const char* v = getenv(name);
    return v && *v ? std::string(v) : fallback;
  };
  c.backend = str("RINGMASTER_COLLECTIVES", "auto");
  if (Status s = check_backend(c.backend, "environment variable RINGMASTER_COLLECTIVES"); !s) return s;
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
    if (getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) {
      auto local = int_var(getenv, "OMPI_COMM_WORLD_LOCAL_SIZE", 1, 1 << 20);
      if (!local) return local.status();
      c.mpi_one_host = *local == *size;
    }
    if (getenv("MASTER_ADDR") && getenv("MASTER_PORT")) {  // a store as well (the nccl backend needs one)
      auto port = int_var(getenv, "MASTER_PORT", 1, 65535);
      if (!port) return port.status();
      c.master = {str("MASTER_ADDR", ""), *port};
      c.has_master = true;
    }
    if (auto d = device_var(getenv, "OMPI_COMM_WORLD_LOCAL_RANK"); !d) return d.status();
    else c.device = *d;
    return c;
  }
  if (!getenv("WORLD_SIZE") && getenv("TF_CONFIG")) return from_tf_config(c, getenv("TF_CONFIG"));
  if (!getenv("WORLD_SIZE") && getenv("PET_NODE_RANK") && getenv("PET_MASTER_ADDR")) {
    // A Kubeflow Trainer v2 torch node (plugins/torch/torch.go): torchrun's PET_* and no WORLD_SIZE.
    // ringmaster train is one process per node (its threads use the node's cores), so the world
    // is the nodes: PET_NNODES ranks, this one PET_NODE_RANK, rank 0 at PET_MASTER_ADDR:PORT.
    auto size = int_var(getenv, "PET_NNODES", 1, 1 << 20);
    if (!size) return size.status();
    auto rank = int_var(getenv, "PET_NODE_RANK", 0, *size - 1);
    if (!rank) return rank.status();
    c.world_size = *size;
    c.rank = *rank;
    if (c.world_size > 1) {
      auto port = int_var(getenv, "PET_MASTER_PORT", 1, 65535);
      if (!port) return port.status();
      c.master = {str("PET_MASTER_ADDR", ""), *port};
      c.has_master = true;
    }
    return c;
  }
  if (!getenv("WORLD_SIZE")) {
    // A replica of a multi-replica PyTorchJob that has no world: the operator gives MASTER_ADDR,
    // RANK and WORLD_SIZE only to jobs with a Master (pytorch/envvar.go). Training alone there would
    // be a silent wrong result (N separate models reported as one job), so it is an error.
    const std::string nnodes = str("PET_NNODES", "");
    if (!nnodes.empty() && nnodes != "1" && nnodes != "1:1")
      return invalid_argument(fmt::format(
          "environment variable PET_NNODES: this replica is one of {} of its job, but the job gives no "
          "WORLD_SIZE, RANK or MASTER_ADDR to meet them (the training operator sets those only for a PyTorchJob "
          "with a Master replica); add a Master (replicas: 1), or start the replicas with torchrun and an "
          "elasticPolicy",
          nnodes));
    return c;  // a world of one
  }
  auto size = int_var(getenv, "WORLD_SIZE", 1, 1 << 20);
  if (!size) return size.status();
  c.world_size = *size;
  if (c.world_size > 1 || getenv("RANK")) {  // WORLD_SIZE=1 alone is a world of one
    auto rank = int_var(getenv, "RANK", 0, *size - 1);
    if (!rank) return rank.status();
    c.rank = *rank;
  }
  if (c.world_size > 1) {
    if (!getenv("MASTER_ADDR"))
      return invalid_argument("environment variable MASTER_ADDR: expected the address of rank 0, found none");
    auto port = int_var(getenv, "MASTER_PORT", 1, 65535);
    if (!port) return port.status();
    c.master = {str("MASTER_ADDR", ""), *port};
    c.has_master = true;
  }
  if (auto d = device_var(getenv, "LOCAL_RANK"); !d) return d.status();
  else c.device = *d;
  return c;
}

Result<std::unique_ptr<Communicator>> create(const RendezvousConfig& c) {
  const Deadline deadline = Deadline::after(c.options.timeout);
  const StoreIdentity id{c.token, c.job, c.world_size, c.rank};
  if (c.backend == "mpi") {
    if (!c.from_mpi && c.world_size > 1)
      return invalid_argument(fmt::format(
          "collectives backend mpi: this process is rank {} of {} by RANK/WORLD_SIZE, not started by mpirun; MPI "
          "would make it a world of its own (run under mpirun, or use tcp, shm or auto)",
          c.rank, c.world_size));
    auto comm = make_mpi_communicator(c.options);
    if (comm && (*comm)->size() != c.world_size)
      return invalid_argument(fmt::format("collectives backend mpi: MPI says the world has {} ranks, the environment "
                                          "says {}",
                                          (*comm)->size(), c.world_size));
    return comm;
  }
  if (c.backend == "nccl") {
    if (c.world_size > 1 && !c.has_master)
      return invalid_argument("RINGMASTER_COLLECTIVES=nccl: needs MASTER_ADDR and MASTER_PORT (the NCCL id travels "
                              "through the rendezvous store), found none");
    std::unique_ptr<TcpStoreServer> server;
    std::unique_ptr<Store> store = make_in_memory_store();
    if (c.world_size > 1) {
      if (auto s = join_store(c, id, deadline, server, store); !s) return s;
    }
    auto comm = make_nccl_communicator(*store, id, c.device, c.options, deadline);
    // Rank 0 keeps serving until everyone has the id: a barrier on the new communicator.
    if (comm && c.world_size > 1)
      if (Status s = (*comm)->barrier(); !s) return s;
    return comm;
  }
  if (c.world_size == 1) {
    auto t = connect_tcp_mesh(UniqueFd(), {""}, id, deadline);
    if (!t) return t.status();
    return make_communicator(std::move(*t), c.options);
  }
  std::string bind = c.bind_host;
  if (bind.empty()) {
    if (c.from_mpi) {  // no master to route to: this host's own address, when ranks span hosts
      auto here = c.mpi_one_host ? Result<std::string>(std::string("127.0.0.1")) : this_host_address();
      if (!here) return here.status();
      bind = *here;
    } else {
      auto local = local_address_towards(c.master.host, deadline);
      if (!local) return local.status();
      bind = *local;
    }
  }
  // Rank 0 serves the store (unless MPI exchanges the addresses); everyone joins it as a client.
  std::unique_ptr<TcpStoreServer> server;
  std::unique_ptr<Store> store;
  AddressExchange exchange;
  if (c.from_mpi) {
    exchange = mpi_address_exchange();
  } else {
    if (auto s = join_store(c, id, deadline, server, store); !s) return s;
    exchange = store_address_exchange(*store, c.rank, c.world_size, "addr", deadline);
  }
  auto listener = listen_tcp(bind, 0);
  if (!listener) return listener.status().with_context(fmt::format("rank {}: listening for peers", c.rank));
  const std::string here = host_identity();
  auto all = exchange(fmt::format("{}:{}|{}", bind, local_port(listener->get()), here));
  if (!all) return all.status();
  // Ranks of one host (same boot, network and mount namespaces) talk through shared memory.
  int other_host = -1;
  for (int r = 0; r < c.world_size && other_host < 0; ++r) {
    const std::string& a = (*all)[static_cast<std::size_t>(r)];
    if (a.substr(a.find('|') + 1) != here) other_host = r;
  }
  if (c.backend == "shm" && other_host >= 0)
    return invalid_argument(fmt::format("RINGMASTER_COLLECTIVES=shm: rank {} is on another host than rank {} ({})",
                                        other_host, c.rank, (*all)[static_cast<std::size_t>(other_host)]));
  std::unique_ptr<Transport> transport;
  if (c.backend == "shm" || (c.backend == "auto" && other_host < 0)) {
    // Segment names unique to this job instance: rank 0's listening address is unique on the host.
    const std::size_t h = std::hash<std::string>{}(c.token + "\n" + c.job + "\n" + (*all)[0]);
    auto t = make_shm_transport(id, {fmt::format("/ringmaster-{:016x}", h)}, deadline);
    if (!t) return t.status();
    transport = std::move(*t);
  } else {
    auto t = connect_tcp_mesh(std::move(*listener), *all, id, deadline);
    if (!t) return t.status();
    transport = std::move(*t);
  }
  // The store is not needed once the transport is up: every rank read all addresses before
  // connecting, and rank 0 (which serves it) has heard from everyone.
  return make_communicator(std::move(transport), c.options);
}

}  // namespace ringmaster::collectives
