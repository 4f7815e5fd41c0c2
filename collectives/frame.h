// Internal to collectives/: the 40-byte header every transport puts before a message, carrying the
// CallSignature (so a mismatched call is detected) and the payload length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "collectives/transport.h"
#include "common/status.h"

namespace ringmaster::collectives::frame {

inline constexpr std::size_t kHeaderBytes = 40;
inline constexpr std::size_t kReportBytes = 256 * 1024;  // on_recv granularity: reduce while more arrives
using Header = std::array<std::byte, kHeaderBytes>;

Header encode(const CallSignature& sig, uint64_t payload_bytes);
// Checks magic, signature and length against what this rank expects; messages name both ranks.
Status check(const std::byte* header, const CallSignature& mine, int my_rank, int from, std::size_t expect_bytes);

}  // namespace ringmaster::collectives::frame
