#include "ps/layout.h"

#include <algorithm>
#include <numeric>

namespace ringmaster::ps {

std::vector<Block> make_layout(std::span<const TensorExtent> tensors, int servers, int64_t max_block_floats) {
  std::vector<Block> blocks;
  for (const TensorExtent& t : tensors) {
    const int64_t pieces = (t.length + max_block_floats - 1) / max_block_floats;
    for (int64_t p = 0; p < pieces; ++p) {
      const int64_t begin = t.length * p / pieces, end = t.length * (p + 1) / pieces;
      blocks.push_back({static_cast<uint32_t>(blocks.size()), t.offset + begin, end - begin, 0});
    }
  }
  std::vector<std::size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return blocks[a].length > blocks[b].length; });
  std::vector<int64_t> load(static_cast<std::size_t>(std::max(1, servers)), 0);
  for (std::size_t i : order) {
    const auto least = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    blocks[i].server = static_cast<int>(least);
    load[least] += blocks[i].length;
  }
  return blocks;
}

std::vector<Block> blocks_of(std::span<const Block> layout, int server) {
  std::vector<Block> out;
  for (const Block& b : layout)
    if (b.server == server) out.push_back(b);
  return out;
}

}  // namespace ringmaster::ps
