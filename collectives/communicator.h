// Communicator: the collectives a data-parallel job needs, over any backend.
//
//   auto comm = collectives::create(config);           // rendezvous + transport from a config
//   comm->allreduce(grads, grads, n, DataType::kFloat32, ReduceOp::kAverage);   // in place
//   Work w = comm->allreduce_async(...);  ...backward continues...;  w.get();
//
// Every call takes a timeout (the communicator's default when omitted) and returns a Status: a dead
// peer, a closed connection or a mismatched call (another op, type, size or order on some rank)
// becomes an error on every rank within the timeout, never a hang or a wrong result. After an
// error the communicator is broken: later calls fail at once with the first error.
//
// Threading: calls may come from any one thread at a time. Asynchronous calls run in order on the
// communicator's own thread; once one has been made, synchronous calls queue behind them, so every
// rank still sees the same order.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "collectives/store.h"
#include "collectives/transport.h"
#include "collectives/types.h"
#include "common/status.h"

namespace ringmaster::collectives {

using Work = std::shared_future<Status>;
using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultTimeout{0};  // "the communicator's default"

struct CommunicatorOptions {
  Millis timeout{std::chrono::seconds(60)};    // default per call
  std::size_t small_message_bytes = 64 * 1024;  // up to this, recursive doubling (power-of-two worlds)
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  // out[i] = op over ranks of in[i]. in == out is in place. kAverage divides by size() (integer
  // division for integer types); 16-bit floats accumulate in float32.
  virtual Status allreduce(const void* in, void* out, std::size_t count, DataType type, ReduceOp op,
                           Millis timeout = kDefaultTimeout) = 0;
  // data from `root` to every rank.
  virtual Status broadcast(void* data, std::size_t count, DataType type, int root, Millis timeout = kDefaultTimeout) = 0;
  // out = concatenation over ranks of in (count elements each); out holds size() * count.
  virtual Status allgather(const void* in, void* out, std::size_t count, DataType type,
                           Millis timeout = kDefaultTimeout) = 0;
  // in holds size() blocks of count elements; out (count elements) = op over ranks of block rank().
  virtual Status reduce_scatter(const void* in, void* out, std::size_t count, DataType type, ReduceOp op,
                                Millis timeout = kDefaultTimeout) = 0;
  virtual Status barrier(Millis timeout = kDefaultTimeout) = 0;

  // Asynchronous allreduce: buffers must stay valid until the Work is ready.
  virtual Work allreduce_async(const void* in, void* out, std::size_t count, DataType type, ReduceOp op,
                               Millis timeout = kDefaultTimeout) = 0;

  // Watches asynchronous allreduces run (the training timeline): called on the communicator's
  // thread with true just before one starts and false once it has ended (tcp, shm and mpi; NCCL
  // does not report). Set it while no call is in flight; empty to stop.
  using AsyncObserver = std::function<void(bool started)>;
  void set_async_observer(AsyncObserver observer) { async_observer_ = std::move(observer); }

 protected:
  // Backends run each asynchronous call's body through this.
  Status observed(const std::function<Status()>& body) const {
    if (!async_observer_) return body();
    async_observer_(true);
    Status s = body();
    async_observer_(false);
    return s;
  }

 private:
  AsyncObserver async_observer_;
};

// A communicator running our algorithms (ring, recursive doubling, chain broadcast) over a
// transport (tcp, shm).
std::unique_ptr<Communicator> make_communicator(std::unique_ptr<Transport> transport, CommunicatorOptions options = {});

}  // namespace ringmaster::collectives
