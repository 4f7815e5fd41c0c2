// How the model's flat parameter buffer is cut into blocks and spread over the parameter servers.
// Every worker derives the same layout from the same model and server count, so no server needs
// to know the model: tensors larger than max_block_floats are cut into near-equal pieces, and the
// blocks go, largest first, to the server holding the fewest bytes so far (ties to the lower
// index), which balances the bytes and with them each server's share of the traffic.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ringmaster::ps {

struct Block {
  uint32_t key = 0;     // position in the layout, the same on every worker
  int64_t offset = 0;   // into the parameter buffer
  int64_t length = 0;   // floats
  int server = 0;
};

struct TensorExtent {
  int64_t offset = 0, length = 0;
};

inline constexpr int64_t kDefaultMaxBlockFloats = 1 << 16;  // 256 KiB

// REQUIRES: servers >= 1, max_block_floats >= 1, extents non-overlapping with length > 0.
std::vector<Block> make_layout(std::span<const TensorExtent> tensors, int servers,
                               int64_t max_block_floats = kDefaultMaxBlockFloats);

// The blocks of one server, in key order.
std::vector<Block> blocks_of(std::span<const Block> layout, int server);

}  // namespace ringmaster::ps
