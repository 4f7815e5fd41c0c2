// `ringmaster ps`: one parameter server. It holds its blocks of the model's parameters (which
// blocks, their sizes, the optimizer and the mode come from the first worker's Register, so the
// server needs no model flags), applies each push with a server-side optimizer (worker/optimizer.h,
// one per block), and answers pulls:
//   async (default): a push is applied on arrival, block by block under per-block locks, with
//         the learning rate divided by the number of workers (W pushes move the parameters about
//         as far as one synchronous step of their mean; undivided, momentum SGD diverges);
//   sync: a step's gradients from all workers are summed, averaged and applied once, and a pull
//         for that step waits for it;
//   ssp (--staleness k): pushes apply on arrival (as async); a worker at clock c pulls only once the slowest
//         worker has pushed c - k steps.
// Every request is checked (token, worker, keys, lengths, shapes); a bad one gets
// INVALID_ARGUMENT or UNAUTHENTICATED and changes nothing. With a checkpoint directory the state
// (parameters, optimizer state, clocks) is written atomically every few seconds and at shutdown,
// and restored at start, so a restarted server loses at most one interval.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace ringmaster::ps {

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: a free port (see PsServer::port)
  int index = 0;  // this server's place among the job's servers
  std::string token;  // requests must carry it (x-ringmaster-token); empty accepts only empty
  std::string checkpoint_dir;  // empty: no checkpoints
  double checkpoint_seconds = 5.0;
  int64_t max_message_bytes = 256LL << 20;  // gRPC's default of 4 MiB is too small for real models
  int threads = 0;  // gRPC sync server threads (0: gRPC's default)
};

class PsServer {
 public:
  virtual ~PsServer() = default;
  // Binds, restores the checkpoint if there is one (failing on a corrupt one) and starts serving.
  static Result<std::unique_ptr<PsServer>> start(const ServerOptions& options);
  virtual int port() const = 0;
  // Writes the checkpoint now (no-op without a checkpoint directory).
  virtual Status save() = 0;
  // Stops serving (in-flight calls are cancelled), writes a last checkpoint, returns.
  virtual void shutdown() = 0;
  // Blocks until shutdown() (from another thread or a signal handler's helper).
  virtual void wait() = 0;
};

// The checkpoint file of server `index` in `dir`.
std::string checkpoint_path(const std::string& dir, int index);

}  // namespace ringmaster::ps
