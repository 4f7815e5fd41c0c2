// Internal to collectives/: what every transport shares. The 40-byte header each message starts
// with, carrying the CallSignature (so a mismatched call is detected) and the payload length; the
// sending and receiving halves of one exchange over that framing; and the abort-on-first-error
// policy. A transport only moves bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "collectives/transport.h"
#include "common/status.h"

namespace ringmaster::collectives::frame {

inline constexpr std::size_t kHeaderBytes = 40;
inline constexpr std::size_t kReportBytes = 256 * 1024;  // on_recv granularity: reduce while more arrives
using Header = std::array<std::byte, kHeaderBytes>;

Header encode(const CallSignature& sig, uint64_t payload_bytes);
// Checks magic, signature and length against what this rank expects; messages name both ranks.
Status check(const std::byte* header, const CallSignature& mine, int my_rank, int from, std::size_t expect_bytes);

// The sending half of one exchange: the header and the payload as one byte stream.
class Outgoing {
 public:
  Outgoing(const CallSignature& sig, int to, std::span<const std::byte> payload);
  bool done() const { return sent_ == total_; }
  std::size_t sent() const { return sent_; }
  std::size_t total() const { return total_; }
  // What is left to send, as up to two contiguous pieces (rest of the header, rest of the payload).
  std::span<const std::byte> header_rest() const;
  std::span<const std::byte> payload_rest() const;
  void advance(std::size_t n) { sent_ += n; }

 private:
  Header header_;
  std::span<const std::byte> payload_;
  std::size_t sent_ = 0, total_ = 0;
};

// The receiving half: the header, checked as soon as it is complete, then the payload, handed to
// on_recv in pieces of at least kReportBytes (and the rest at the end).
class Incoming {
 public:
  Incoming(const CallSignature& sig, int my_rank, int from, std::span<std::byte> payload, const RecvProgress& on_recv);
  bool done() const { return got_ == total_; }
  std::size_t got() const { return got_; }
  std::size_t total() const { return total_; }
  // Where the next bytes go: the rest of the header, else the rest of the payload.
  std::span<std::byte> space();
  // n bytes were written to space(). Fails when the completed header is not the expected one.
  Status received(std::size_t n);
  // Reports any payload not reported yet. Call once done().
  void finish();

 private:
  const CallSignature& sig_;
  int my_rank_, from_;
  std::span<std::byte> payload_;
  const RecvProgress& on_recv_;
  Header header_{};
  std::size_t got_ = 0, total_ = 0, reported_ = 0;
};

// "rank 1: timed out in allreduce #3 (...) (x of y bytes sent to rank 2, ...)"
Status timed_out(int my_rank, const CallSignature& sig, const Outgoing& out, int to, const Incoming& in, int from);

// Our transports' failure policy: the first error aborts the transport (close_all), so peers see
// it at once, and every later call fails with that error.
class AbortingTransport : public Transport {
 public:
  Status exchange(const CallSignature& sig, int to, std::span<const std::byte> send, int from,
                  std::span<std::byte> recv, const RecvProgress& on_recv, Deadline deadline) final;
  void abort(const std::string& why) final;

 protected:
  // One exchange (see Transport::exchange); any error it returns aborts the transport.
  virtual Status transfer(const CallSignature& sig, int to, std::span<const std::byte> send, int from,
                          std::span<std::byte> recv, const RecvProgress& on_recv, Deadline deadline) = 0;
  // Closes every connection or channel, so peers notice.
  virtual void close_all() = 0;

 private:
  std::string aborted_;
};

}  // namespace ringmaster::collectives::frame
