// Internal to collectives/: building call signatures, and the same-call check of the backends whose
// library cannot detect mismatched calls itself (MPI, NCCL): every rank contributes (signature,
// -signature) to one max-allreduce; when the maxima equal the negated minima, every rank is making
// the same call. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "collectives/transport.h"
#include "collectives/types.h"

namespace ringmaster::collectives {

CallSignature make_signature(uint64_t seq, CallKind kind, DataType type, ReduceOp op, std::size_t count, int root);

using CallCheck = std::array<int64_t, 10>;
// What this rank contributes to the max-allreduce (int64, MPI_MAX / ncclMax).
CallCheck encode_call_check(const CallSignature& sig);
// After the max-allreduce: ok, or kFailedPrecondition naming this rank's call and the field the
// ranks disagree on.
Status verify_call_check(const CallCheck& reduced, const CallSignature& mine, int rank);

}  // namespace ringmaster::collectives
