// Collective algorithms written only against Transport (Gloo's algorithm layer). Internal to
// collectives/; users call Communicator. Buffers are raw bytes; 16-bit floating types must have
// been widened to float32 by the caller before any reducing algorithm.
#pragma once

#include <cstddef>
#include <vector>

#include "collectives/transport.h"
#include "collectives/types.h"

namespace ringmaster::collectives::algorithms {

// Elements [begin(i), begin(i+1)) form segment i of n over count elements.
inline std::size_t segment_begin(std::size_t count, int n, int i) {
  return count * static_cast<std::size_t>(i) / static_cast<std::size_t>(n);
}

// In-place allreduce of `count` elements in `data`: ring reduce-scatter then ring allgather, each
// step reducing received bytes while the rest is still arriving. `scratch` is grown as needed.
Status ring_allreduce(Transport& t, const CallSignature& sig, std::byte* data, std::size_t count, DataType type,
                      ReduceOp op, Deadline deadline, std::vector<std::byte>& scratch);
// In-place allreduce by recursive doubling: log2(n) exchanges of the whole buffer; for small
// messages. REQUIRES: n is a power of two.
Status recursive_doubling_allreduce(Transport& t, const CallSignature& sig, std::byte* data, std::size_t count,
                                    DataType type, ReduceOp op, Deadline deadline, std::vector<std::byte>& scratch);
// Ring reduce-scatter over n equal blocks of count_per_rank elements in `data` (n * count_per_rank
// elements, clobbered); afterwards block `rank` of data holds the reduced block.
Status ring_reduce_scatter(Transport& t, const CallSignature& sig, std::byte* data, std::size_t count_per_rank,
                           DataType type, ReduceOp op, Deadline deadline, std::vector<std::byte>& scratch);
// Ring allgather: `data` holds n blocks of `block_bytes`; block `rank` is this rank's input.
Status ring_allgather(Transport& t, const CallSignature& sig, std::byte* data, std::size_t block_bytes,
                      Deadline deadline);
// Pipelined chain broadcast of `bytes` from `root`, in chunks of `chunk_bytes`.
Status chain_broadcast(Transport& t, const CallSignature& sig, std::byte* data, std::size_t bytes, int root,
                       Deadline deadline, std::size_t chunk_bytes = 1 << 20);

}  // namespace ringmaster::collectives::algorithms
