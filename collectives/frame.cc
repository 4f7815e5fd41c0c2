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

Outgoing::Outgoing(const CallSignature& sig, int to, std::span<const std::byte> payload)
    : header_(encode(sig, payload.size())), payload_(payload), total_(to >= 0 ? kHeaderBytes + payload.size() : 0) {}

std::span<const std::byte> Outgoing::header_rest() const {
  return sent_ < kHeaderBytes && total_ > 0 ? std::span<const std::byte>(header_).subspan(sent_)
                                            : std::span<const std::byte>();
}

std::span<const std::byte> Outgoing::payload_rest() const {
  return sent_ < kHeaderBytes ? payload_ : payload_.subspan(sent_ - kHeaderBytes);
}

Incoming::Incoming(const CallSignature& sig, int my_rank, int from, std::span<std::byte> payload,
                   const RecvProgress& on_recv)
    : sig_(sig), my_rank_(my_rank), from_(from), payload_(payload), on_recv_(on_recv),
      total_(from >= 0 ? kHeaderBytes + payload.size() : 0) {}

std::span<std::byte> Incoming::space() {
  if (got_ < kHeaderBytes) return std::span<std::byte>(header_).subspan(got_);
  return payload_.subspan(got_ - kHeaderBytes);
}

Status Incoming::received(std::size_t n) {
  const bool had_header = got_ >= kHeaderBytes;
  got_ += n;
  if (!had_header && got_ >= kHeaderBytes)
    if (Status s = check(header_.data(), sig_, my_rank_, from_, payload_.size()); !s) return s;
  const std::size_t body = got_ > kHeaderBytes ? got_ - kHeaderBytes : 0;
  if (on_recv_ && body > reported_ && (body - reported_ >= kReportBytes || got_ == total_)) {
    on_recv_(reported_, body);
    reported_ = body;
  }
  return Status::ok();
}

void Incoming::finish() {
  if (on_recv_ && payload_.size() > reported_) on_recv_(reported_, payload_.size());
}

Status timed_out(int my_rank, const CallSignature& sig, const Outgoing& out, int to, const Incoming& in, int from) {
  return Status(StatusCode::kDeadlineExceeded,
                fmt::format("rank {}: timed out in {} ({} of {} bytes sent to rank {}, {} of {} received from rank {})",
                            my_rank, sig.describe(), out.sent(), out.total(), to, in.got(), in.total(), from));
}

Status AbortingTransport::exchange(const CallSignature& sig, int to, std::span<const std::byte> send, int from,
                                   std::span<std::byte> recv, const RecvProgress& on_recv, Deadline deadline) {
  if (!aborted_.empty()) return Status(StatusCode::kAborted, aborted_);
  Status s = transfer(sig, to, send, from, recv, on_recv, deadline);
  if (!s) abort(s.message());
  return s;
}

void AbortingTransport::abort(const std::string& why) {
  if (aborted_.empty()) aborted_ = why.empty() ? "the communicator was aborted" : why;
  close_all();
}

}  // namespace ringmaster::collectives::frame
