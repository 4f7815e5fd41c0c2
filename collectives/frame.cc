#include "collectives/frame.h"

#include <fmt/format.h>

namespace ringmaster::collectives::frame {
namespace {

constexpr uint32_t kMagic = 0x31584d52;  // "RMX1"

void put(std::byte* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
uint64_t get(const std::byte* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

CallSignature decode(const std::byte* h) {
  CallSignature s;
  s.kind = static_cast<uint8_t>(h[4]);
  s.dtype = static_cast<uint8_t>(h[5]);
  s.op = static_cast<uint8_t>(h[6]);
  s.root = static_cast<int32_t>(get(h + 8, 4));
  s.seq = get(h + 16, 8);
  s.count = get(h + 24, 8);
  return s;
}

}  // namespace

Header encode(const CallSignature& s, uint64_t payload) {
  Header h{};
  put(h.data(), kMagic, 4);
  h[4] = static_cast<std::byte>(s.kind);
  h[5] = static_cast<std::byte>(s.dtype);
  h[6] = static_cast<std::byte>(s.op);
  put(h.data() + 8, static_cast<uint32_t>(s.root), 4);
  put(h.data() + 16, s.seq, 8);
  put(h.data() + 24, s.count, 8);
  put(h.data() + 32, payload, 8);
  return h;
}


Status check(const std::byte* h, const CallSignature& mine, int my_rank, int from, std::size_t expect) {
  if (get(h, 4) != kMagic)
    return Status(StatusCode::kDataLoss,
                  fmt::format("rank {}: rank {} sent bytes that are not a ringmaster collective frame", my_rank, from));
  const CallSignature theirs = decode(h);
  if (!(theirs == mine))
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("mismatched collectives: rank {} is in {}, but rank {} sent {}", my_rank, mine.describe(),
                              from, theirs.describe()));
  if (get(h + 32, 8) != expect)
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("mismatched collectives: in {} rank {} expected {} bytes from rank {}, which sent {}",
                              mine.describe(), my_rank, expect, from, get(h + 32, 8)));
  return Status::ok();
}

}  // namespace ringmaster::collectives::frame
