#include "collectives/algorithms.h"

#include <cstring>

namespace ringmaster::collectives::algorithms {
namespace {

int mod(int a, int n) { return ((a % n) + n) % n; }

// Bytes per message in a reduce step: the received piece is reduced from a scratch buffer this
// large, which stays in cache, instead of from a segment-sized one that streams through memory.
constexpr std::size_t kPieceBytes = 512 * 1024;

// Sends segment `send_seg` while receiving segment `recv_seg` and reducing it into data as it
// arrives, in pieces of about kPieceBytes. Segments are element ranges [seg(i), seg(i+1)); both
// ranks of a pair cut a segment into the same pieces, so the message sizes agree.
template <typename SegFn>
Status reduce_step(Transport& t, const CallSignature& sig, std::byte* data, DataType type, ReduceOp op, int send_seg,
                   int recv_seg, SegFn seg, Deadline deadline, std::vector<std::byte>& scratch) {
  const int n = t.size(), r = t.rank();
  const std::size_t es = element_size(type);
  const std::size_t sb = seg(send_seg), se = seg(send_seg + 1), rb = seg(recv_seg), re = seg(recv_seg + 1);
  // Every rank cuts every segment into the same number of pieces: from the longest segment.
  std::size_t longest = 0;
  for (int i = 0; i < n; ++i) longest = std::max(longest, seg(i + 1) - seg(i));
  const std::size_t pieces = std::max<std::size_t>(1, (longest * es + kPieceBytes - 1) / kPieceBytes);
  auto cut = [pieces](std::size_t len, std::size_t i) { return len * i / pieces; };
  if (scratch.size() < (longest / pieces + 1) * es) scratch.resize((longest / pieces + 1) * es);
  for (std::size_t i = 0; i < pieces; ++i) {
    const std::size_t s0 = sb + cut(se - sb, i), s1 = sb + cut(se - sb, i + 1);
    const std::size_t r0 = rb + cut(re - rb, i), r1 = rb + cut(re - rb, i + 1);
    std::byte* target = data + r0 * es;
    std::size_t done = 0;  // elements of this piece reduced so far
    Status s = t.exchange(sig, mod(r + 1, n), {data + s0 * es, (s1 - s0) * es}, mod(r - 1, n),
                          {scratch.data(), (r1 - r0) * es},
                          [&](std::size_t, std::size_t end) {
                            const std::size_t upto = end / es;
                            if (upto > done)
                              reduce_into(target + done * es, scratch.data() + done * es, upto - done, type, op);
                            done = upto;
                          },
                          deadline);
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace

Status ring_allreduce(Transport& t, const CallSignature& sig, std::byte* data, std::size_t count, DataType type,
                      ReduceOp op, Deadline deadline, std::vector<std::byte>& scratch) {
  const int n = t.size(), r = t.rank();
  if (n == 1) return Status::ok();
  const std::size_t es = element_size(type);
  auto seg = [&](int i) { return segment_begin(count, n, i); };  // i in [0, n]
  // Reduce-scatter: after n-1 steps rank r holds the reduced segment r+1.
  for (int k = 0; k < n - 1; ++k) {
    Status s = reduce_step(t, sig, data, type, op, mod(r - k, n), mod(r - k - 1, n), seg, deadline, scratch);
    if (!s) return s;
  }
  // Allgather: pass the reduced segments around the ring.
  for (int k = 0; k < n - 1; ++k) {
    const int send = mod(r + 1 - k, n), recv = mod(r - k, n);
    Status s = t.exchange(sig, mod(r + 1, n), {data + seg(send) * es, (seg(send + 1) - seg(send)) * es}, mod(r - 1, n),
                          {data + seg(recv) * es, (seg(recv + 1) - seg(recv)) * es}, nullptr, deadline);
    if (!s) return s;
  }
  return Status::ok();
}

Status recursive_doubling_allreduce(Transport& t, const CallSignature& sig, std::byte* data, std::size_t count,
                                    DataType type, ReduceOp op, Deadline deadline, std::vector<std::byte>& scratch) {
  const int n = t.size(), r = t.rank();
  const std::size_t bytes = count * element_size(type);
  if (scratch.size() < bytes) scratch.resize(bytes);
  for (int mask = 1; mask < n; mask <<= 1) {
    const int peer = r ^ mask;
    Status s = t.exchange(sig, peer, {data, bytes}, peer, {scratch.data(), bytes}, nullptr, deadline);
    if (!s) return s;
    // Lower rank first, so every rank adds in the same order and ends bit-identical.
    if (r < peer) {
      reduce_into(data, scratch.data(), count, type, op);
    } else {
      reduce_into(scratch.data(), data, count, type, op);
      if (bytes > 0) std::memcpy(data, scratch.data(), bytes);
    }
  }
  return Status::ok();
}

Status ring_reduce_scatter(Transport& t, const CallSignature& sig, std::byte* data, std::size_t per_rank,
                           DataType type, ReduceOp op, Deadline deadline, std::vector<std::byte>& scratch) {
  const int n = t.size(), r = t.rank();
  auto seg = [&](int i) { return static_cast<std::size_t>(i) * per_rank; };
  for (int k = 0; k < n - 1; ++k) {
    Status s = reduce_step(t, sig, data, type, op, mod(r - 1 - k, n), mod(r - 2 - k, n), seg, deadline, scratch);
    if (!s) return s;
  }
  return Status::ok();
}

Status ring_allgather(Transport& t, const CallSignature& sig, std::byte* data, std::size_t block, Deadline deadline) {
  const int n = t.size(), r = t.rank();
  for (int k = 0; k < n - 1; ++k) {
    const auto send = static_cast<std::size_t>(mod(r - k, n)), recv = static_cast<std::size_t>(mod(r - k - 1, n));
    Status s = t.exchange(sig, mod(r + 1, n), {data + send * block, block}, mod(r - 1, n), {data + recv * block, block},
                          nullptr, deadline);
    if (!s) return s;
  }
  return Status::ok();
}

Status chain_broadcast(Transport& t, const CallSignature& sig, std::byte* data, std::size_t bytes, int root,
                       Deadline deadline, std::size_t chunk) {
  const int n = t.size(), r = t.rank();
  if (n == 1) return Status::ok();
  const int pos = mod(r - root, n), next = mod(r + 1, n), prev = mod(r - 1, n);
  const std::size_t chunks = std::max<std::size_t>(1, (bytes + chunk - 1) / chunk);
  auto piece = [&](std::size_t c) {
    const std::size_t b = c * chunk;
    return std::span<std::byte>(data + b, std::min(chunk, bytes - std::min(bytes, b)));
  };
  if (pos == 0) {
    for (std::size_t c = 0; c < chunks; ++c)
      if (Status s = t.exchange(sig, next, piece(c), -1, {}, nullptr, deadline); !s) return s;
    return Status::ok();
  }
  // Receive chunk c while forwarding chunk c-1.
  for (std::size_t c = 0; c <= chunks; ++c) {
    const bool forward = c >= 1 && pos < n - 1, receive = c < chunks;
    if (!forward && !receive) continue;
    std::span<std::byte> in = receive ? piece(c) : std::span<std::byte>{};
    std::span<std::byte> out = forward ? piece(c - 1) : std::span<std::byte>{};
    Status s = t.exchange(sig, forward ? next : -1, out, receive ? prev : -1, in, nullptr, deadline);
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace ringmaster::collectives::algorithms
