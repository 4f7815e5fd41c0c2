// Transport: moves bytes between the ranks of one communicator (Gloo's transport layer). The
// algorithms (algorithms.h) are written only against this interface; each backend exposes one
// factory function and nothing else.
//
// Every exchange carries the CallSignature of the collective it belongs to; the receiver checks it
// against its own, so ranks that call different collectives (another op, type, size or order) get
// an error naming both calls instead of a wrong result. After any error the transport aborts:
// every later call fails at once and peers see the connection drop, so one failure reaches every
// rank quickly instead of each waiting for its own timeout.
// A Transport is used by one thread at a time (the Communicator serializes calls).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "collectives/store.h"
#include "common/fd.h"
#include "common/deadline.h"
#include "common/status.h"

namespace ringmaster::collectives {

enum class CallKind : uint8_t { kAllreduce = 1, kBroadcast, kAllgather, kReduceScatter, kBarrier };

// Identical on every rank for one collective call (call_check.h builds and compares them).
struct CallSignature {
  uint64_t seq = 0;    // the communicator's call counter
  uint8_t kind = 0;    // a CallKind
  uint8_t dtype = 0;
  uint8_t op = 0;
  int32_t root = 0;
  uint64_t count = 0;  // elements
  bool operator==(const CallSignature&) const = default;
  // "allreduce #12 (float32 sum, 1000 elements)"
  std::string describe() const;
};

// Called as consecutive bytes [begin, end) of the receive buffer have arrived.
using RecvProgress = std::function<void(std::size_t begin, std::size_t end)>;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;
  // Sends `send` to rank `to` while receiving exactly recv.size() bytes from rank `from`; either
  // peer may be -1 (nothing to send / receive). `to` and `from` may be the same rank.
  // on_recv (may be empty) sees the received bytes in order, possibly in several pieces, before
  // exchange returns, so the caller can reduce while the rest is still in flight.
  virtual Status exchange(const CallSignature& sig, int to, std::span<const std::byte> send, int from,
                          std::span<std::byte> recv, const RecvProgress& on_recv, Deadline deadline) = 0;
  // Closes every connection; later calls fail with `why`.
  virtual void abort(const std::string& why) = 0;
};

struct TcpOptions {
  std::string bind_host = "127.0.0.1";  // where this rank listens for its peers
  std::string advertise_host;           // what peers connect to (default: bind_host)
  std::string key_prefix = "tcp";       // store keys: "<prefix>/<rank>"
};

// Publishes this rank's address ("host:port") and returns every rank's, indexed by rank.
using AddressExchange = std::function<Result<std::vector<std::string>>(const std::string& mine)>;
// The exchange through a rendezvous store (keys "<prefix>/<rank>").
AddressExchange store_address_exchange(Store& store, int rank, int world_size, const std::string& prefix,
                                       Deadline deadline);

// Builds a full mesh of TCP connections (each rank connects to lower ranks and accepts higher
// ones; every connection starts with the job token, so strays cannot join or inject data).
Result<std::unique_ptr<Transport>> make_tcp_transport(const AddressExchange& exchange, const StoreIdentity& identity,
                                                      const TcpOptions& options, Deadline deadline);
// The mesh from a listening socket and every rank's address (what make_tcp_transport does after
// the exchange; the factory uses it when it chose tcp after seeing the addresses).
Result<std::unique_ptr<Transport>> connect_tcp_mesh(UniqueFd listener, const std::vector<std::string>& addresses,
                                                    const StoreIdentity& identity, Deadline deadline);
// Same as make_tcp_transport above, exchanging addresses through `store`.
Result<std::unique_ptr<Transport>> make_tcp_transport(Store& store, const StoreIdentity& identity,
                                                      const TcpOptions& options, Deadline deadline);

struct ShmOptions {
  // Names the segments ("<prefix>-<from>-<to>"); unique per communicator instance, starts with '/'.
  std::string name_prefix;
  std::size_t channel_bytes = 4u << 20;  // ring buffer per directed pair (a power of two)
};
// Shared-memory channels between ranks of one host: a single-producer single-consumer ring buffer
// per directed pair in POSIX shared memory. Each rank creates its incoming channels and opens its
// outgoing ones; segments are unlinked as soon as both sides have mapped them, so nothing is left
// in /dev/shm after a crash. A peer that dies is noticed through its pid within milliseconds.
Result<std::unique_ptr<Transport>> make_shm_transport(const StoreIdentity& identity, const ShmOptions& options,
                                                      Deadline deadline);

// This host's identity for choosing shm: boot id plus network and mount namespaces, so ranks in
// separate containers or network namespaces of one machine count as different hosts.
std::string host_identity();

}  // namespace ringmaster::collectives
