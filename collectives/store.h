// Rendezvous stores: how ranks find each other (Gloo's rendezvous/store.h, torch's TCPStore).
//
// A Store is a key-value map shared by the ranks of one job: set() publishes, get() waits until a
// key exists (or the deadline passes), add() is an atomic counter, hold() a counter of the clients
// alive (ZooKeeper's ephemeral nodes, etcd's leases, without a heartbeat). InMemoryStore serves ranks that
// are threads of one process (tests); TcpStoreServer, run by rank 0 at MASTER_ADDR:MASTER_PORT,
// serves TcpStoreClients in other processes and hosts.
//
// Joining a TcpStoreServer needs the job's shared token (the launcher puts it in every replica's
// environment), the job's name and its world size; a stray connection, a rank of another job on
// the same port, or a rank with a different world size is refused with a message saying which.
// All classes here are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/socket.h"
#include "common/deadline.h"
#include "common/status.h"

namespace ringmaster::collectives {

class Store {
 public:
  virtual ~Store() = default;
  virtual Status set(const std::string& key, const std::string& value) = 0;
  // The value of key, waiting until some rank sets it; kDeadlineExceeded names the key.
  virtual Result<std::string> get(const std::string& key, Deadline deadline) = 0;
  // Adds delta to the integer at key (0 when absent) and returns the new value.
  virtual Result<int64_t> add(const std::string& key, int64_t delta) = 0;

  // Counts its caller at key while it lives: adds 1 now and takes it back when the returned Hold is
  // destroyed or, for a TCP client, when the connection closes (the process was killed). The key
  // reads with add(key, 0). The Hold must not outlive this Store.
  class Hold {
   public:
    virtual ~Hold() = default;
  };
  virtual Result<std::unique_ptr<Hold>> hold(const std::string& key) = 0;
};

std::unique_ptr<Store> make_in_memory_store();

// Who may join a TcpStoreServer, and who a client says it is.
struct StoreIdentity {
  std::string token;   // shared secret of the job (RINGMASTER_JOB_TOKEN)
  std::string job;     // job name, for messages
  int world_size = 1;  // 0: an elastic job's store (worker/elastic.h), which any of its workers joins
  int rank = 0;        // clients only
};

class TcpStoreServer {
 public:
  // Listens on host:port (port 0: ephemeral) and serves until destroyed.
  static Result<std::unique_ptr<TcpStoreServer>> start(const std::string& host, int port, StoreIdentity identity);
  virtual ~TcpStoreServer() = default;
  virtual int port() const = 0;
};

// Connects (retrying until the deadline while the server is not up yet) and introduces itself.
Result<std::unique_ptr<Store>> connect_tcp_store(const Endpoint& server, const StoreIdentity& identity,
                                                 Deadline deadline);

}  // namespace ringmaster::collectives
